//! Faults, injected from the run's own thread while the workloads run:
//! process crashes and pauses through signals, network faults through the
//! proxies on every link, clock skew through the member's environment.

use super::Rng;
use super::history::LockHold;
use super::net::Net;
use super::workloads::Ctx;
use super::workloads::LOCK;
use crate::TestCluster;
use std::io::{BufRead, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a damaged member's removal is tried (elections may be under
/// way), and how often.
const REMOVAL_WITHIN: Duration = Duration::from_secs(30);
const REMOVAL_RETRY_EVERY: Duration = Duration::from_millis(500);

/// How soon a member that finds its data damaged must have said so.
const REFUSED_START_WITHIN: Duration = Duration::from_secs(10);

/// How soon a member whose disk filled must have exited.
const FULL_DISK_EXIT_WITHIN: Duration = Duration::from_secs(15);

/// The process number recorded for lock holds of the paused client process.
const PAUSED_CLIENT_PROCESS: usize = 50;

/// The lines a child prints, as they come.
fn child_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    if let Some(stdout) = child.stdout.take() {
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line.trim().to_owned()).is_err() {
                    break;
                }
            }
        });
    }
    rx
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// kill -9 a random member, restart it a moment later.
    KillMember,
    /// kill -9 the leader and restart it at once, before the others elect.
    KillLeader,
    /// kill -9 every member at once, restart them all.
    KillAll,
    /// SIGSTOP a member (the leader half the time) for longer than the
    /// session TTL, then SIGCONT.
    PauseMember,
    /// Cut the leader off from both peers (clients still reach it).
    IsolateLeader,
    /// Cut a follower off from both peers (clients still reach it).
    IsolateFollower,
    /// Messages one way between two members are lost (including the leader
    /// hearing nothing back, or followers hearing nothing from it).
    OneWay,
    /// Replies from one member to its clients are lost, requests still
    /// arrive: every client there must resend elsewhere.
    LostReplies,
    /// A lock holder freezes, cut off from everything, past its session TTL,
    /// then resumes its critical section with its old fence.
    FreezeClient,
    /// A client process holding the lock is stopped with SIGSTOP past its
    /// session TTL, then continued: its fence must be refused and its
    /// unlock must report the lock lost.
    PauseClient,
    /// Followers restart with clocks far ahead (further each round), then
    /// the leader is killed so one of them leads.
    ClockSkew,
    /// A member's Raft log loses its end while it is down. The first
    /// round and every other one: a third member falls behind (cut off),
    /// a follower that kept up and the leader are killed, 512–4,095 bytes
    /// are cut off the follower's log and it restarts while the leader is
    /// down (a cut member that voted at once would elect a leader without
    /// entries it acknowledged). The others: kill -9 a member (the leader
    /// half the time), cut 1–12 bytes (inside its last record, so it must
    /// say it recovers) and restart it.
    LogTail,
    /// A member (the leader half the time), or every third round all of
    /// them, lose power: kill -9, and every write not fsynced is gone (the
    /// data directories are power-cut volumes, `crate::powerfs`); then
    /// they restart.
    PowerCut,
    /// A member's disk (the leader's half the time) fills up while it
    /// runs: it must exit non-zero, and once space is freed it restarts
    /// and catches up.
    DiskFull,
    /// A stopped member's disk damages one of its files (a flipped bit in
    /// the snapshot, the log or the metadata, or a file other than the
    /// newest WAL file cut short, in turn: `damage`); restarted, it must
    /// refuse to start (starting is a finding), and is then replaced
    /// under a new node id through the runbook.
    DamagedDisk,
    /// A member (the leader half the time) is removed from the membership
    /// with `raftcp admin`, added back as a learner and promoted once it
    /// caught up; half the rounds kill -9 and restart a member meanwhile.
    Membership,
}

/// Bytes a cut of a WAL file can take and still end inside its last
/// record: every raft-log record is longer (a 4-byte type and an 8-byte
/// checksum around a payload that is never empty).
const INSIDE_A_RECORD_BYTES: u64 = 12;

impl Fault {
    pub const ALL: [Fault; 16] = [
        Fault::KillMember,
        Fault::KillLeader,
        Fault::KillAll,
        Fault::PauseMember,
        Fault::IsolateLeader,
        Fault::IsolateFollower,
        Fault::OneWay,
        Fault::LostReplies,
        Fault::FreezeClient,
        Fault::PauseClient,
        Fault::ClockSkew,
        Fault::Membership,
        Fault::PowerCut,
        Fault::DiskFull,
        Fault::DamagedDisk,
        Fault::LogTail,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::KillMember => "kill-member",
            Fault::KillLeader => "kill-leader",
            Fault::KillAll => "kill-all",
            Fault::PauseMember => "pause-member",
            Fault::IsolateLeader => "isolate-leader",
            Fault::IsolateFollower => "isolate-follower",
            Fault::OneWay => "one-way",
            Fault::LostReplies => "lost-replies",
            Fault::FreezeClient => "freeze-client",
            Fault::PauseClient => "pause-client",
            Fault::ClockSkew => "clock-skew",
            Fault::LogTail => "log-tail",
            Fault::Membership => "membership",
            Fault::PowerCut => "power-cut",
            Fault::DiskFull => "disk-full",
            Fault::DamagedDisk => "damaged-disk",
        }
    }

    /// Whether the members' data directories must be power-cut volumes.
    pub fn needs_power_volumes(self) -> bool {
        matches!(self, Fault::PowerCut | Fault::DiskFull)
    }

    pub fn parse(name: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// The fault switches a member starts with (planted bug, clock skew).
#[derive(Clone, Debug, Default)]
pub struct MemberEnv {
    pub planted_bug: Option<&'static str>,
}

impl MemberEnv {
    pub fn vars(&self, skew_ms: i64) -> Vec<(String, String)> {
        let mut vars = vec![("RAFTCP_CLOCK_SKEW_MS".to_owned(), skew_ms.to_string())];
        if let Some(bug) = self.planted_bug {
            vars.push(("RAFTCP_PLANTED_BUG".to_owned(), bug.to_owned()));
        }
        vars
    }
}

#[derive(Debug)]
pub struct Nemesis<'a> {
    pub cluster: &'a mut TestCluster,
    pub net: &'a Net,
    pub ctx: &'a Ctx,
    pub rng: Rng,
    pub env: MemberEnv,
    pub lock_workers: Vec<usize>,
    /// What it did, for the run's log.
    pub log: Vec<String>,
    /// What it saw go wrong itself (a member that did not exit on a full
    /// disk): violations, like the checkers'.
    pub findings: Vec<String>,
    /// The node id the next replacement member gets.
    next_node_id: u64,
    /// Rounds of [`Fault::DamagedDisk`] or [`Fault::PowerCut`] so far.
    damage_rounds: usize,
    /// Rounds of [`Fault::LogTail`] so far.
    log_tail_rounds: usize,
    started: Instant,
}

impl<'a> Nemesis<'a> {
    pub fn new(
        cluster: &'a mut TestCluster,
        net: &'a Net,
        ctx: &'a Ctx,
        rng: Rng,
        env: MemberEnv,
    ) -> Self {
        let next_node_id = cluster.addrs.keys().max().map_or(1, |id| id + 1);
        Nemesis {
            cluster,
            net,
            ctx,
            rng,
            env,
            lock_workers: Vec::new(),
            log: Vec::new(),
            findings: Vec::new(),
            next_node_id,
            damage_rounds: 0,
            log_tail_rounds: 0,
            started: Instant::now(),
        }
    }

    fn note(&mut self, what: String) {
        let at = self.started.elapsed().as_millis();
        self.log.push(format!("{at:>6} ms  {what}"));
    }

    fn members(&self) -> Vec<u64> {
        self.cluster.addrs.keys().copied().collect()
    }

    fn pick(&mut self, among: &[u64]) -> u64 {
        among[self.rng.below(among.len() as u64) as usize]
    }

    /// The leader if the members agree on one, else a random member.
    fn leader_or_any(&mut self) -> u64 {
        match self.cluster.leader() {
            Some(leader) => leader,
            None => {
                let members = self.members();
                self.pick(&members)
            }
        }
    }

    fn follower(&mut self) -> u64 {
        let leader = self.leader_or_any();
        let others: Vec<u64> = self
            .members()
            .into_iter()
            .filter(|m| *m != leader)
            .collect();
        self.pick(&others)
    }

    fn sleep_ms(&mut self, from: u64, to: u64) {
        let ms = from + self.rng.below(to - from + 1);
        std::thread::sleep(Duration::from_millis(ms));
    }

    fn restart(&mut self, id: u64, skew_ms: i64) {
        self.cluster.set_node_env(id, self.env.vars(skew_ms));
        self.cluster.start_node(id);
    }

    /// Injects `fault` repeatedly until `until`, then heals everything.
    pub fn run(&mut self, fault: Fault, until: Instant) {
        let ttl_ms = self.ctx.session_ttl.as_millis() as u64;
        // Each clock-skew round sets every clock further ahead than the last,
        // so each takeover, not only the first, is by a member whose clock
        // runs ahead of the leader it replaces.
        let mut skew_ms = 0;
        loop {
            self.sleep_ms(500, 1_500);
            if Instant::now() >= until {
                break;
            }
            match fault {
                Fault::KillMember | Fault::KillLeader => {
                    let victim = match fault {
                        Fault::KillLeader => self.leader_or_any(),
                        _ => {
                            let members = self.members();
                            self.pick(&members)
                        }
                    };
                    self.note(format!("kill -9 member {victim}"));
                    self.cluster.kill(victim);
                    match fault {
                        // Back before the others can elect: a restarted
                        // leader must not serve from what it persisted.
                        Fault::KillLeader => self.sleep_ms(50, 400),
                        _ => self.sleep_ms(500, 2_500),
                    }
                    self.note(format!("restart member {victim}"));
                    self.restart(victim, 0);
                }
                Fault::LogTail => self.cut_a_log_tail(),
                Fault::PowerCut => self.cut_power(),
                Fault::DiskFull => self.fill_a_disk(),
                Fault::DamagedDisk => self.damage_a_disk(),
                Fault::KillAll => {
                    self.note("kill -9 every member".into());
                    for id in self.members() {
                        self.cluster.kill(id);
                    }
                    self.sleep_ms(200, 1_500);
                    self.note("restart every member".into());
                    for id in self.members() {
                        self.restart(id, 0);
                    }
                    self.sleep_ms(2_000, 3_000);
                }
                Fault::PauseMember => {
                    let victim = self.leader_or_follower();
                    self.note(format!("SIGSTOP member {victim}"));
                    self.cluster.pause(victim);
                    self.sleep_ms(ttl_ms + 500, ttl_ms + 1_500);
                    self.note(format!("SIGCONT member {victim}"));
                    self.cluster.resume(victim);
                }
                Fault::IsolateLeader | Fault::IsolateFollower => {
                    let victim = match fault {
                        Fault::IsolateLeader => self.leader_or_any(),
                        _ => self.follower(),
                    };
                    let others: Vec<u64> = self
                        .members()
                        .into_iter()
                        .filter(|m| *m != victim)
                        .collect();
                    self.note(format!("partition [{victim}] from {others:?}"));
                    self.net.partition(&[victim], &others);
                    // Past the session TTL: the cut-off member must send its
                    // clients to the majority in time for their sessions to
                    // live (a member without a quorum closes its connections).
                    self.sleep_ms(ttl_ms + 1_000, ttl_ms + 2_000);
                    self.note("heal partition".into());
                    self.net.heal_members();
                    self.sleep_ms(1_500, 2_500);
                }
                Fault::OneWay => {
                    let leader = self.leader_or_any();
                    let other = self.follower();
                    let (from, to) = match self.rng.below(2) {
                        0 => (leader, other),
                        _ => (other, leader),
                    };
                    self.note(format!("drop messages {from} -> {to}"));
                    self.net.drop_messages(from, to);
                    self.sleep_ms(2_000, 3_000);
                    self.note("heal".into());
                    self.net.heal_members();
                }
                Fault::LostReplies => {
                    let members = self.members();
                    let victim = self.pick(&members);
                    self.note(format!("drop replies of member {victim} to its clients"));
                    self.net.drop_replies_to_clients(victim);
                    self.sleep_ms(2_000, 3_000);
                    self.note("heal client links".into());
                    self.net.heal_clients_of(victim);
                }
                Fault::FreezeClient => {
                    let workers = self.lock_workers.clone();
                    let victim = workers[self.rng.below(workers.len() as u64) as usize];
                    self.note(format!(
                        "freeze lock worker {victim} while it holds the lock"
                    ));
                    self.ctx.freeze.store(victim, Ordering::SeqCst);
                    self.sleep_ms(ttl_ms + 2_500, ttl_ms + 3_000);
                    self.ctx.freeze.store(usize::MAX, Ordering::SeqCst);
                }
                Fault::PauseClient => {
                    self.pause_lock_holding_process();
                }
                Fault::ClockSkew => {
                    // Ahead: a clock behind only delays expiry.
                    skew_ms += 3 * ttl_ms as i64;
                    let leader = self.leader_or_any();
                    let followers: Vec<u64> = self
                        .members()
                        .into_iter()
                        .filter(|m| *m != leader)
                        .collect();
                    for follower in followers {
                        self.note(format!(
                            "restart member {follower} with its clock {skew_ms:+} ms off"
                        ));
                        self.cluster.kill(follower);
                        self.restart(follower, skew_ms);
                        self.sleep_ms(1_000, 1_500);
                    }
                    self.note(format!(
                        "kill -9 leader {leader}; a skewed member takes over"
                    ));
                    self.cluster.kill(leader);
                    self.sleep_ms(1_500, 2_500);
                    self.note(format!(
                        "restart member {leader} with its clock {skew_ms:+} ms off"
                    ));
                    self.restart(leader, skew_ms);
                }
                Fault::Membership => self.change_membership(),
            }
        }
        self.heal();
        if fault == Fault::Membership {
            self.restore_voters();
        }
    }

    /// The leader half the time, else a follower.
    fn leader_or_follower(&mut self) -> u64 {
        match self.rng.below(2) {
            0 => self.leader_or_any(),
            _ => self.follower(),
        }
    }

    /// One round of [`Fault::PowerCut`]: every third round, from the
    /// second, cuts every member at once, as a site losing power does.
    fn cut_power(&mut self) {
        let site_wide = self.damage_rounds % 3 == 1;
        self.damage_rounds += 1;
        let victims = match site_wide {
            true => self.members(),
            false => vec![self.leader_or_follower()],
        };
        self.note(format!(
            "power cut of {victims:?}: killed, their unsynced writes gone"
        ));
        for victim in &victims {
            let seed = self.rng.next_u64();
            self.cluster.power_cut(*victim, seed);
        }
        self.sleep_ms(200, 1_500);
        self.note(format!("restart {victims:?}"));
        for victim in victims {
            self.restart(victim, 0);
        }
        self.sleep_ms(1_000, 2_000);
    }

    /// One round of [`Fault::LogTail`].
    fn cut_a_log_tail(&mut self) {
        // The dangerous shape first, then every other round.
        self.log_tail_rounds += 1;
        if self.log_tail_rounds % 2 == 1 {
            return self.cut_a_tail_only_it_had();
        }
        let victim = self.leader_or_follower();
        // Inside the last record for sure (every record is longer): the
        // member must see it.
        let bytes = 1 + self.rng.below(INSIDE_A_RECORD_BYTES);
        self.note(format!(
            "kill -9 member {victim}, cut {bytes} bytes off its log"
        ));
        self.cluster.kill(victim);
        self.cluster.cut_log_tail(victim, bytes);
        self.sleep_ms(200, 1_500);
        self.note(format!("restart member {victim}"));
        self.restart(victim, 0);
        if !self.comes_back_recovering(victim) {
            self.findings.push(format!(
                "member {victim} lost the end of its last record ({bytes} bytes) and did not \
                 say it was recovering"
            ));
        }
        // Time to catch up before the next round.
        self.sleep_ms(2_000, 3_000);
    }

    /// The dangerous shape of [`Fault::LogTail`]: a third member falls
    /// behind (cut off), a follower that kept up loses the end of its log,
    /// and the leader, the only other holder of those entries, is down
    /// while the two others could elect a leader between them.
    fn cut_a_tail_only_it_had(&mut self) {
        let leader = self.leader_or_any();
        let victim = self.follower();
        let Some(behind) = (self.members().into_iter()).find(|m| *m != leader && *m != victim)
        else {
            return;
        };
        self.note(format!("partition [{behind}] from [{leader}, {victim}]"));
        self.net.partition(&[behind], &[leader, victim]);
        self.sleep_ms(1_000, 2_000);
        // Several records, so that entries the third member lacks go.
        let bytes = 512 + self.rng.below(3_584);
        self.note(format!(
            "kill -9 members {victim} and {leader}, cut {bytes} bytes off {victim}'s log, heal"
        ));
        self.cluster.kill(victim);
        self.cluster.kill(leader);
        self.cluster.cut_log_tail(victim, bytes);
        self.net.heal_members();
        self.note(format!("restart member {victim}"));
        self.restart(victim, 0);
        // A cut that left whole records only is a loss no member can see
        // (as if they were never written): outside what the group promises
        // to survive, so the leader returns at once.
        if self.comes_back_recovering(victim) {
            // Long enough for the two to elect a leader, were the cut
            // member to vote.
            self.sleep_ms(3_000, 4_000);
        } else {
            self.note(format!(
                "member {victim} saw no loss: the cut ended on a record"
            ));
        }
        self.note(format!("restart member {leader}"));
        self.restart(leader, 0);
        self.sleep_ms(2_000, 3_000);
    }

    /// Whether member `id`, restarted, says it recovers a lost tail (it
    /// answers `/health` within 15 s, or this says no).
    fn comes_back_recovering(&self, id: u64) -> bool {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(health) = self.cluster.health(id) {
                return health["recovering"].as_bool() == Some(true);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// One round of [`Fault::DiskFull`].
    fn fill_a_disk(&mut self) {
        let victim = self.leader_or_follower();
        self.note(format!("disk of member {victim} full"));
        self.cluster.fill_disk(victim);
        // Every member writes each entry the workloads make, so its next
        // write fails within moments.
        match self.cluster.wait_exit(victim, FULL_DISK_EXIT_WITHIN) {
            Some(status) if !status.success() => {
                self.note(format!("member {victim} exited: {status}"));
            }
            Some(status) => self.findings.push(format!(
                "member {victim} exited with {status} on a full disk: a supervisor would not restart it"
            )),
            None => {
                self.findings.push(format!(
                    "member {victim} still running {FULL_DISK_EXIT_WITHIN:?} after its disk filled"
                ));
                self.cluster.kill(victim);
            }
        }
        self.sleep_ms(300, 1_500);
        self.note(format!("space freed; restart member {victim}"));
        self.cluster.free_disk(victim);
        self.restart(victim, 0);
        self.sleep_ms(1_500, 2_500);
    }

    /// One round of [`Fault::DamagedDisk`].
    fn damage_a_disk(&mut self) {
        let victim = self.leader_or_follower();
        self.cluster.kill(victim);
        let data_dir = self.cluster.data_dir(victim);
        let damage = super::damage::damage(&data_dir, &mut self.damage_rounds, &mut self.rng);
        let what = &damage.description;
        self.note(format!("kill -9 member {victim}; {what}; restart it"));
        self.restart(victim, 0);
        match self.cluster.wait_exit(victim, REFUSED_START_WITHIN) {
            Some(status) => {
                let log = self.cluster.log_text(victim);
                let why = log.lines().rev().find(|l| !l.trim().is_empty());
                self.note(format!(
                    "member {victim} refused to start ({status}): {}",
                    why.unwrap_or("nothing logged")
                ));
                if status.success() {
                    self.findings.push(format!(
                        "member {victim} refused its damaged data with a zero exit status"
                    ));
                }
                self.replace(victim);
            }
            None if damage.done => self.findings.push(format!(
                "member {victim} started on damaged data ({what}) instead of refusing it"
            )),
            None => self.note(format!("member {victim} started")),
        }
        self.sleep_ms(1_000, 2_000);
    }

    /// Replaces member `dead` by an empty one under a new node id, as the
    /// runbook says (docs/operations.md, "Replace a dead member"), at the
    /// same address: the clients' links (proxies) lead there.
    fn replace(&mut self, dead: u64) {
        let deadline = Instant::now() + REMOVAL_WITHIN;
        let id = dead.to_string();
        let removed = loop {
            let removed = self.admin(&["remove-member", &id]);
            if removed.is_ok() || Instant::now() >= deadline {
                break removed;
            }
            std::thread::sleep(REMOVAL_RETRY_EVERY);
        };
        self.note(format!("remove member {dead}: {removed:?}"));
        if removed.is_err() {
            // Still a voter: another member down would cost the quorum.
            self.findings.push(format!(
                "member {dead}, refusing its damaged data, could not be removed within {REMOVAL_WITHIN:?}"
            ));
            return;
        }
        let addr = self.cluster.addrs[&dead].clone();
        self.cluster.forget(dead);
        let new = self.next_node_id;
        self.next_node_id += 1;
        self.cluster.set_node_env(new, self.env.vars(0));
        if !self.cluster.start_joining_node_at(new, addr.clone()) {
            self.findings.push(format!(
                "{addr} was taken: member {new}, replacing member {dead}, cannot start there"
            ));
            return;
        }
        if !self.add_back(new) {
            self.findings.push(format!(
                "member {new}, replacing member {dead}, did not become a voter"
            ));
        }
    }

    /// One round of [`Fault::Membership`].
    fn change_membership(&mut self) {
        let victim = self.leader_or_follower();
        let removed = self.admin(&["remove-member", &victim.to_string()]);
        self.note(format!("remove member {victim}: {removed:?}"));
        if self.rng.below(2) == 0 {
            let members = self.members();
            let crashed = self.pick(&members);
            self.note(format!("kill -9 member {crashed} during the change"));
            self.cluster.kill(crashed);
            self.sleep_ms(300, 1_500);
            self.note(format!("restart member {crashed}"));
            self.restart(crashed, 0);
        }
        self.sleep_ms(500, 1_500);
        self.add_back(victim);
    }

    /// Adds `member` (removed earlier) back as a learner and promotes it
    /// once it caught up; false if it is not a voter in the end.
    fn add_back(&mut self, member: u64) -> bool {
        let addr = self.cluster.addrs[&member].clone();
        let id = member.to_string();
        let added = self.admin(&["add-member", "--id", &id, "--addr", &addr]);
        self.note(format!("add member {member} as a learner: {added:?}"));
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline && !self.caught_up(member) {
            std::thread::sleep(Duration::from_millis(200));
        }
        let promoted = self.admin(&["promote", &id]);
        self.note(format!("promote member {member}: {promoted:?}"));
        promoted.is_ok()
    }

    /// Whether the leader sees `member` at most 100 entries behind.
    fn caught_up(&mut self, member: u64) -> bool {
        let Ok(json) = self.admin(&["members"]) else {
            return false;
        };
        let Ok(view) = serde_json::from_str::<serde_json::Value>(&json) else {
            return false;
        };
        let members = view["members"].as_array().cloned().unwrap_or_default();
        members.iter().any(|m| {
            m["node_id"].as_u64() == Some(member)
                && !m["matched"].is_null()
                && m["lag"].as_u64().is_some_and(|lag| lag <= 100)
        })
    }

    /// After a membership run: every member a voter again, so that the
    /// next run starts from three.
    fn restore_voters(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        for member in self.members() {
            while Instant::now() < deadline && !self.add_back(member) {
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }

    /// Runs `raftcp admin --json ARGS` against the members (directly, as
    /// an operator would: not through the faulty links); its output, or
    /// why it failed.
    fn admin(&self, args: &[&str]) -> Result<String, String> {
        let endpoints: Vec<&str> = self.cluster.addrs.values().map(String::as_str).collect();
        let output = Command::new(crate::server_binary())
            .args(["admin", "--json", "--endpoints", &endpoints.join(",")])
            .args(args)
            .output()
            .map_err(|e| e.to_string())?;
        match output.status.success() {
            true => Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned()),
            false => Err(String::from_utf8_lossy(&output.stderr).trim().to_owned()),
        }
    }

    /// Starts a client process that takes the workload's lock, SIGSTOPs it
    /// past its session TTL, continues it, then does its protected work and
    /// unlocks, recording the hold like a lock worker's.
    fn pause_lock_holding_process(&mut self) {
        let process = PAUSED_CLIENT_PROCESS;
        let members = self.members();
        let member = self.pick(&members);
        let binary = crate::built_profile_dir().join("raftcp-test-client");
        let lock_invoked_us = self.ctx.history.now_us();
        let Ok(mut child) = Command::new(binary)
            .args([&self.cluster.url(member), "lock", LOCK])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
        else {
            self.note("cannot start the client process".into());
            return;
        };
        let lines = child_lines(&mut child);
        let fence = match lines.recv_timeout(Duration::from_secs(20)) {
            Ok(line) => line
                .strip_prefix("fence ")
                .and_then(|f| f.parse::<u64>().ok()),
            Err(_) => None,
        };
        let Some(fence) = fence else {
            self.note("the client process got no lock in time".into());
            let _ = child.kill();
            let _ = child.wait();
            return;
        };
        let acquired_us = self.ctx.history.now_us();
        self.ctx.history.with(|r| r.frozen.push(process));
        let pid = child.id().to_string();
        self.note(format!(
            "SIGSTOP client process {pid} holding fence {fence}"
        ));
        let _ = Command::new("kill").args(["-STOP", &pid]).status();
        let ttl_ms = self.ctx.session_ttl.as_millis() as u64;
        self.sleep_ms(ttl_ms + 1_500, ttl_ms + 2_500);
        let _ = Command::new("kill").args(["-CONT", &pid]).status();
        // Resumed, it carries on with its fence.
        if let Ok(basis) = self.ctx.store.read(fence) {
            let _ = self.ctx.store.write(fence, basis, basis + 1);
        }
        let unlock_invoked_us = self.ctx.history.now_us();
        let answer = child
            .stdin
            .as_mut()
            .map(|stdin| stdin.write_all(b"unlock\n"))
            .and_then(Result::ok)
            .and_then(|()| lines.recv_timeout(Duration::from_secs(30)).ok());
        self.note(format!("SIGCONT; its unlock answered {answer:?}"));
        let hold = LockHold {
            lock: LOCK,
            process,
            fence,
            lock_invoked_us,
            acquired_us,
            unlock_invoked_us: Some(unlock_invoked_us),
            unlock_ok: answer.as_deref() == Some("unlocked"),
            leased: false,
        };
        self.ctx.history.with(|r| r.lock_holds.push(hold));
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Every member running and unpaused, every link whole.
    pub fn heal(&mut self) {
        self.ctx.freeze.store(usize::MAX, Ordering::SeqCst);
        for id in self.members() {
            if self.cluster.is_running(id) {
                self.cluster.resume(id);
            } else {
                self.restart(id, 0);
            }
        }
        self.net.heal_members();
        for id in self.members() {
            self.net.heal_clients_of(id);
        }
        self.note("healed".into());
    }
}
