// Operations per second and latency percentiles over the last minutes,
// from every member's /metrics (Prometheus text): each member counts the
// operations its own clients sent, so the cluster's figures are the sums
// of what each member counted since the last sample.

/** One sample a second, five minutes kept. */
export const SAMPLE_MS = 1000;
export const SAMPLES_KEPT = 300;
/** Percentiles are read over this many seconds of samples. */
const PERCENTILE_WINDOW = 5;

/** `name{labels}` → value, for every sample line. */
export function parseMetrics(text) {
  const values = new Map();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return values;
}

/** The operation kinds and latency bucket bounds (seconds) in a sample. */
function shape(values) {
  const kinds = new Set();
  const bounds = new Set();
  for (const key of values.keys()) {
    const bucket = key.match(/^raftcp_operation_seconds_bucket\{kind="([a-z_]+)",le="([^"]+)"\}$/);
    if (!bucket) continue;
    kinds.add(bucket[1]);
    bounds.add(bucket[2] === "+Inf" ? Infinity : Number(bucket[2]));
  }
  return { kinds: [...kinds], bounds: [...bounds].sort((a, b) => a - b) };
}

const total = (values, kind) =>
  (values.get(`raftcp_operations_total{kind="${kind}",result="ok"}`) ?? 0) +
  (values.get(`raftcp_operations_total{kind="${kind}",result="error"}`) ?? 0);

const bucket = (values, kind, bound) =>
  values.get(`raftcp_operation_seconds_bucket{kind="${kind}",le="${bound === Infinity ? "+Inf" : bound}"}`) ?? 0;

/** The history the dashboard charts, fed one round of member samples a second. */
export class OperationHistory {
  constructor() {
    this.previous = new Map(); // member → its last parsed sample
    this.rounds = []; // per round: { at, kinds: { kind → { count, buckets[] } } }
    this.bounds = [];
  }

  /** Adds one round: `samples` maps member id → parsed /metrics (or null). */
  add(samples) {
    const round = { at: Date.now(), kinds: {} };
    for (const [member, values] of samples) {
      const before = this.previous.get(member);
      if (values) this.previous.set(member, values);
      if (!values || !before) continue;
      const { kinds, bounds } = shape(values);
      this.bounds = bounds;
      for (const kind of kinds) {
        // A member that restarted counts from zero again: no negative rates.
        const count = Math.max(0, total(values, kind) - total(before, kind));
        const into = (round.kinds[kind] ??= { count: 0, buckets: bounds.map(() => 0) });
        into.count += count;
        bounds.forEach((bound, i) => {
          into.buckets[i] += Math.max(0, bucket(values, kind, bound) - bucket(before, kind, bound));
        });
      }
    }
    this.rounds.push(round);
    if (this.rounds.length > SAMPLES_KEPT) this.rounds.shift();
  }

  /** Kinds that saw any operation in the kept history. */
  activeKinds() {
    const kinds = new Set();
    for (const round of this.rounds) {
      for (const [kind, { count }] of Object.entries(round.kinds)) if (count > 0) kinds.add(kind);
    }
    return [...kinds].sort();
  }

  /** Operations per second of `kind`, one point per round. */
  rates(kind) {
    return this.rounds.map((round) => (round.kinds[kind]?.count ?? 0) / (SAMPLE_MS / 1000));
  }

  /** The `q` quantile (0.5, 0.99) of `kind`'s latency in milliseconds, one
   * point per round (null where no operation finished in the window). */
  quantiles(kind, q) {
    return this.rounds.map((_, end) => {
      const window = this.rounds.slice(Math.max(0, end - PERCENTILE_WINDOW + 1), end + 1);
      const buckets = this.bounds.map((_, i) =>
        window.reduce((sum, round) => sum + (round.kinds[kind]?.buckets[i] ?? 0), 0));
      return quantile(this.bounds, buckets, q);
    });
  }
}

/** A quantile from cumulative histogram buckets, interpolated within its
 * bucket as Prometheus does; milliseconds. */
export function quantile(bounds, cumulative, q) {
  const count = cumulative[cumulative.length - 1] ?? 0;
  if (count === 0) return null;
  const rank = q * count;
  for (let i = 0; i < bounds.length; i++) {
    if (cumulative[i] < rank) continue;
    if (bounds[i] === Infinity) return bounds[i - 1] * 1000;
    const lower = i === 0 ? 0 : bounds[i - 1];
    const below = i === 0 ? 0 : cumulative[i - 1];
    const inBucket = cumulative[i] - below;
    const share = inBucket === 0 ? 1 : (rank - below) / inBucket;
    return (lower + (bounds[i] - lower) * share) * 1000;
  }
  return null;
}
