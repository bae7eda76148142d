// A line chart in SVG: a few series over the same rounds, scaled to the
// largest value shown, with a legend and a text summary for screen readers.
import { h } from "./ui.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 300;
const HEIGHT = 100;
/** Distinct on white and on each other. */
const COLORS = ["#0b5cad", "#b3261e", "#1d6b35", "#7b3fa0", "#a15c00", "#00695c", "#5d4037", "#c2185b", "#37474f", "#827717"];

/** A chart panel; `update(series)` redraws it (`series`: [{ name, points }]). */
export function lineChart(title, unit) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${WIDTH} ${HEIGHT}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  const legend = h("ul", { class: "legend" });
  const scale = h("p", { class: "muted" });
  const panel = h("section", { class: "panel chart" }, h("h2", {}, title), svg, scale, legend);

  function update(series) {
    const values = series.flatMap((s) => s.points).filter((v) => v !== null);
    const top = niceCeiling(Math.max(1e-9, ...values));
    const rounds = Math.max(2, ...series.map((s) => s.points.length));
    svg.replaceChildren();
    series.forEach((s, i) => {
      const line = document.createElementNS(SVG, "polyline");
      const points = s.points
        .map((v, x) => (v === null ? null : `${(x / (rounds - 1)) * WIDTH},${HEIGHT - (v / top) * HEIGHT}`))
        .filter(Boolean)
        .join(" ");
      line.setAttribute("points", points);
      line.setAttribute("fill", "none");
      line.setAttribute("stroke", COLORS[i % COLORS.length]);
      line.setAttribute("stroke-width", "1.5");
      line.setAttribute("vector-effect", "non-scaling-stroke");
      svg.append(line);
    });
    const latest = series.map((s) => `${s.name} ${format(lastOf(s.points))} ${unit}`);
    svg.setAttribute("aria-label", `${title}, latest: ${latest.join("; ") || "no data yet"}`);
    scale.textContent = `top of chart: ${format(top)} ${unit}, last ${rounds} s`;
    legend.replaceChildren(...series.map((s, i) => {
      // Set through the style object: the page's policy refuses inline
      // style attributes.
      const swatch = h("span", { "aria-hidden": "true" });
      swatch.style.background = COLORS[i % COLORS.length];
      return h("li", {}, swatch, `${s.name}: ${format(lastOf(s.points))}`);
    }));
  }

  return { panel, update };
}

const lastOf = (points) => [...points].reverse().find((v) => v !== null) ?? null;

function format(value) {
  if (value === null) return "–";
  if (value >= 100) return Math.round(value).toLocaleString("en");
  return value.toLocaleString("en", { maximumSignificantDigits: 3 });
}

/** 1, 2 or 5 times a power of ten, at least `value`. */
function niceCeiling(value) {
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((m) => m * power).find((c) => c >= value);
}
