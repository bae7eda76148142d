//! What a token allows: rules of the form `<kind>:<name pattern>`, with an
//! optional `:read` suffix for read-only, plus `admin`. Kinds are `long`,
//! `reference`, `lock`, `semaphore`, `latch` or `*`; a pattern is a name, or
//! a prefix followed by `*`, or `*` alone. A name is matched in full,
//! including any `@group` suffix.
//!
//! Reading means learning an object's state: `get`, `isLocked`,
//! `getLockCount`, `getFence`, `availablePermits`, `getCount`. Everything
//! else writes, including `lock`, `acquire` and `awaitLatch` (a wait queues
//! a waiter and may create the object: replicated state a read-only token
//! must not be able to fill).

use crate::machine::Kind;
use raftcp_proto::Op;

/// A token with more rules than this is refused: a rule list is checked on
/// every request.
pub const RULES_MAX: usize = 256;

/// The kind a rule names; `None` for `*` (every kind), and nothing for a
/// name that is no kind.
fn parse_kind(text: &str) -> Option<Option<Kind>> {
    Some(match text {
        "*" => None,
        "long" => Some(Kind::Long),
        "reference" => Some(Kind::Reference),
        "lock" => Some(Kind::Lock),
        "semaphore" => Some(Kind::Semaphore),
        "latch" => Some(Kind::Latch),
        _ => return None,
    })
}

/// One parsed rule.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    /// `None`: every kind.
    kind: Option<Kind>,
    pattern: Pattern,
    read_only: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Pattern {
    Exact(String),
    Prefix(String),
}

impl Pattern {
    fn matches(&self, name: &str) -> bool {
        match self {
            Pattern::Exact(exact) => name == exact,
            Pattern::Prefix(prefix) => name.starts_with(prefix.as_str()),
        }
    }
}

/// Everything a token allows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Permissions {
    rules: Vec<Rule>,
    admin: bool,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("a token may carry at most {RULES_MAX} rules, this one has {0}")]
    TooMany(usize),
    #[error("rule \"{0}\" is not `<kind>:<name pattern>[:read]` or `admin`")]
    Malformed(String),
    #[error("rule \"{0}\": the kind must be long, reference, lock, semaphore, latch or *")]
    UnknownKind(String),
    #[error("rule \"{0}\": `*` may only end a pattern")]
    InnerStar(String),
}

impl Permissions {
    /// Everything (anonymous clients of a member without `--auth-jwks`).
    pub fn everything() -> Self {
        Permissions {
            rules: vec![Rule {
                kind: None,
                pattern: Pattern::Prefix(String::new()),
                read_only: false,
            }],
            admin: true,
        }
    }

    pub fn parse<S: AsRef<str>>(rules: &[S]) -> Result<Self, RuleError> {
        if rules.len() > RULES_MAX {
            return Err(RuleError::TooMany(rules.len()));
        }
        let mut permissions = Permissions::default();
        for text in rules {
            let text = text.as_ref();
            if text == "admin" {
                permissions.admin = true;
                continue;
            }
            permissions.rules.push(parse_rule(text)?);
        }
        Ok(permissions)
    }

    /// Whether `op` is allowed on the default group.
    pub fn allows(&self, op: &Op) -> bool {
        self.allows_named(op, op_name(op))
    }

    /// Whether `op` is allowed on the object `name` (`name@group` outside
    /// the default group).
    pub fn allows_named(&self, op: &Op, name: &str) -> bool {
        let kind = Kind::of(op);
        let writes = writes(op);
        self.rules.iter().any(|rule| {
            rule.kind.is_none_or(|k| k == kind)
                && rule.pattern.matches(name)
                && !(writes && rule.read_only)
        })
    }

    pub fn is_admin(&self) -> bool {
        self.admin
    }
}

fn parse_rule(text: &str) -> Result<Rule, RuleError> {
    let malformed = || RuleError::Malformed(text.to_owned());
    let (kind, rest) = text.split_once(':').ok_or_else(malformed)?;
    let kind = parse_kind(kind).ok_or_else(|| RuleError::UnknownKind(text.to_owned()))?;
    let (pattern, read_only) = match rest.strip_suffix(":read") {
        Some(pattern) => (pattern, true),
        None => (rest, false),
    };
    if pattern.is_empty() {
        return Err(malformed());
    }
    let pattern = match pattern.strip_suffix('*') {
        Some(prefix) if prefix.contains('*') => return Err(RuleError::InnerStar(text.to_owned())),
        Some(prefix) => Pattern::Prefix(prefix.to_owned()),
        None if pattern.contains('*') => return Err(RuleError::InnerStar(text.to_owned())),
        None => Pattern::Exact(pattern.to_owned()),
    };
    Ok(Rule {
        kind,
        pattern,
        read_only,
    })
}

pub fn op_name(op: &Op) -> &str {
    match op {
        Op::AtomicLong { name, .. }
        | Op::AtomicReference { name, .. }
        | Op::Lock { name, .. }
        | Op::Semaphore { name, .. }
        | Op::Latch { name, .. } => name,
    }
}

/// Whether `op` needs write permission (see the module docs).
fn writes(op: &Op) -> bool {
    op.is_mutating()
}

#[cfg(test)]
mod tests {
    use super::*;
    use raftcp_proto::{HandleId, LatchOp, LockOp, LongOp, RefOp};

    fn lock(name: &str) -> Op {
        Op::Lock {
            name: name.into(),
            handle: HandleId(1),
            op: LockOp::Lock {
                timeout_ms: None,
                reentrancy_limit: 1,
            },
        }
    }

    fn long(name: &str, op: LongOp) -> Op {
        Op::AtomicLong {
            name: name.into(),
            op,
        }
    }

    #[test]
    fn a_prefix_rule_allows_its_kind_and_names_only() {
        let p = Permissions::parse(&["lock:jobs/*"]).unwrap();
        assert!(p.allows(&lock("jobs/a")));
        assert!(p.allows(&lock("jobs/")));
        assert!(!p.allows(&lock("jobs2/a")));
        assert!(!p.allows(&lock("job")));
        assert!(!p.allows(&long("jobs/a", LongOp::Get)));
        assert!(!p.is_admin());
    }

    #[test]
    fn read_rules_allow_reads_only() {
        let p = Permissions::parse(&["long:counter:read", "latch:l:read"]).unwrap();
        assert!(p.allows(&long("counter", LongOp::Get)));
        assert!(!p.allows(&long("counter", LongOp::Set(1))));
        let wait = Op::Latch {
            name: "l".into(),
            op: LatchOp::Await { timeout_ms: None },
        };
        assert!(!p.allows(&wait), "a wait queues a waiter");
        let count = Op::Latch {
            name: "l".into(),
            op: LatchOp::GetCount,
        };
        assert!(p.allows(&count));
        let count_down = Op::Latch {
            name: "l".into(),
            op: LatchOp::CountDown,
        };
        assert!(!p.allows(&count_down));
        // Destroying needs the write permission, on every kind.
        assert!(!p.allows(&long("counter", LongOp::Destroy)));
        let destroy = Op::Latch {
            name: "l".into(),
            op: LatchOp::Destroy,
        };
        assert!(!p.allows(&destroy));
        let lock_destroy = Op::Lock {
            name: "k".into(),
            handle: HandleId(1),
            op: LockOp::Destroy,
        };
        assert!(
            Permissions::parse(&["lock:k"])
                .unwrap()
                .allows(&lock_destroy)
        );
        assert!(
            !Permissions::parse(&["lock:k:read"])
                .unwrap()
                .allows(&lock_destroy)
        );
    }

    #[test]
    fn exact_star_and_admin_rules() {
        let p = Permissions::parse(&["reference:config", "*:shared-*", "admin"]).unwrap();
        let get = |name: &str| Op::AtomicReference {
            name: name.into(),
            op: RefOp::Get,
        };
        assert!(p.allows(&get("config")));
        assert!(!p.allows(&get("config2")));
        assert!(p.allows(&lock("shared-x")));
        assert!(p.allows(&long("shared-", LongOp::Get)));
        assert!(p.is_admin());
        let all = Permissions::parse(&["*:*"]).unwrap();
        assert!(all.allows(&lock("anything@group")));
        assert!(!Permissions::default().allows(&lock("a")));
    }

    #[test]
    fn malformed_rules_are_refused() {
        let bad = [
            "lock",
            "lock:",
            "lock::read",
            "table:x",
            "lock:a*b",
            "lock:**",
            "",
            ":x",
        ];
        for rule in bad {
            assert!(Permissions::parse(&[rule]).is_err(), "{rule:?} parsed");
        }
        let many = vec!["lock:a"; RULES_MAX + 1];
        assert_eq!(
            Permissions::parse(&many),
            Err(RuleError::TooMany(RULES_MAX + 1))
        );
        assert!(Permissions::parse(&vec!["lock:a"; RULES_MAX]).is_ok());
    }
}
