//! Which web pages may open a WebSocket to this member. WebSockets are not
//! covered by CORS: without this check any page a developer visits could
//! drive a cluster on their machine. Browsers always send `Origin` on a
//! WebSocket upgrade and scripts cannot forge it; other clients (the native
//! client, Node's `ws`, Deno, Workers) send none and are not browser pages.
//!
//! A page is allowed when it comes from a member of the cluster (its own
//! `host:port`, or another member's: every member serves the www
//! dashboard, and the dashboard's client fails over to the other members)
//! or from an `--allowed-origin`. The
//! request's `Host` header is not trusted for this: a page on a hostile name
//! that resolves to the member (DNS rebinding) sends a matching `Host`.

/// The origins allowed to open WebSockets, besides requests with none.
#[derive(Clone, Debug, Default)]
pub struct OriginPolicy {
    /// The member's own origins: `http(s)://` its listen address.
    own: Vec<String>,
    /// `--allowed-origin` values, exactly as browsers send them
    /// (`https://app.example.com`); `*` allows every page.
    allowed: Vec<String>,
}

impl OriginPolicy {
    /// `advertised` is the member's `host:port`; `localhost` also names a
    /// member on a loopback address.
    pub fn new(advertised: &str, allowed: Vec<String>) -> Self {
        let own = origins_of(advertised);
        let allowed = allowed
            .into_iter()
            .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
            .collect();
        OriginPolicy { own, allowed }
    }

    /// Whether a WebSocket upgrade with this `Origin` header (if any) may
    /// proceed.
    pub fn allows(&self, origin: Option<&str>) -> bool {
        let Some(origin) = origin else {
            return true; // Not a browser page.
        };
        let origin = origin.to_ascii_lowercase();
        self.own.contains(&origin) || self.allowed.iter().any(|a| a == "*" || *a == origin)
    }

    /// [`OriginPolicy::allows`], and pages served by any of `members`
    /// (`host:port`, the cluster's current members).
    pub fn allows_with_members<'a>(
        &self,
        origin: Option<&str>,
        members: impl IntoIterator<Item = &'a String>,
    ) -> bool {
        if self.allows(origin) {
            return true;
        }
        let Some(origin) = origin.map(str::to_ascii_lowercase) else {
            return true;
        };
        members
            .into_iter()
            .any(|member| origins_of(member).contains(&origin))
    }
}

/// The origins of pages a member at `host:port` serves.
fn origins_of(addr: &str) -> Vec<String> {
    let mut hosts = vec![addr.to_ascii_lowercase()];
    if let Some(port) = loopback_port(addr) {
        hosts.push(format!("localhost:{port}"));
    }
    hosts
        .iter()
        .flat_map(|host| [format!("http://{host}"), format!("https://{host}")])
        .collect()
}

/// The port of a loopback `host:port`.
fn loopback_port(addr: &str) -> Option<&str> {
    let (host, port) = addr.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip: std::net::IpAddr = host.parse().ok()?;
    ip.is_loopback().then_some(port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_from_the_member_and_allowed_origins_only() {
        let policy = OriginPolicy::new("127.0.0.1:7701", vec!["https://App.example.com/".into()]);
        assert!(policy.allows(None));
        assert!(policy.allows(Some("http://127.0.0.1:7701")));
        assert!(policy.allows(Some("http://localhost:7701")));
        assert!(policy.allows(Some("https://app.example.com")));
        // Another port on the same machine is another origin.
        assert!(!policy.allows(Some("http://127.0.0.1:8080")));
        assert!(!policy.allows(Some("http://localhost:7702")));
        // A rebound name is not the member, whatever its Host header says.
        assert!(!policy.allows(Some("http://evil.example:7701")));
        assert!(!policy.allows(Some("null")));
        assert!(!policy.allows(Some("https://app.example.com.evil.example")));
    }

    #[test]
    fn pages_from_the_other_members_too() {
        let policy = OriginPolicy::new("127.0.0.1:7701", vec![]);
        let members = ["127.0.0.1:7701".to_owned(), "127.0.0.1:7702".to_owned()];
        assert!(policy.allows_with_members(Some("http://127.0.0.1:7702"), &members));
        assert!(policy.allows_with_members(Some("http://localhost:7702"), &members));
        assert!(!policy.allows_with_members(Some("http://127.0.0.1:7703"), &members));
        assert!(!policy.allows_with_members(Some("http://evil.example:7702"), &members));
    }

    #[test]
    fn a_star_allows_every_page_and_names_are_not_loopback() {
        assert!(OriginPolicy::new("10.0.0.5:7701", vec!["*".into()]).allows(Some("http://x")));
        let public = OriginPolicy::new("10.0.0.5:7701", vec![]);
        assert!(!public.allows(Some("http://localhost:7701")));
        assert!(public.allows(Some("https://10.0.0.5:7701")));
        let v6 = OriginPolicy::new("[::1]:7701", vec![]);
        assert!(v6.allows(Some("http://localhost:7701")));
    }
}
