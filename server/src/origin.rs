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
#[derive(Clone, Debug)]
pub struct OriginPolicy {
    /// `http` or `https`: the scheme of the pages members serve. A TLS
    /// member's pages are never `http://`, so such an origin is a page
    /// someone else answered for it.
    scheme: &'static str,
    /// The member's own origins: its listen address.
    own: Vec<String>,
    /// `--allowed-origin` values, exactly as browsers send them
    /// (`https://app.example.com`); `*` allows every page.
    allowed: Vec<String>,
}

impl OriginPolicy {
    /// `advertised` is the member's `host:port`; `localhost` also names a
    /// member on a loopback address. `tls`: the member serves `https`.
    pub fn new(advertised: &str, allowed: Vec<String>, tls: bool) -> Self {
        let scheme = if tls { "https" } else { "http" };
        let own = origins_of(scheme, advertised);
        let allowed = allowed
            .into_iter()
            .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
            .collect();
        OriginPolicy {
            scheme,
            own,
            allowed,
        }
    }

    /// Whether a WebSocket upgrade with this `Origin` header (if any) may
    /// proceed, members' pages aside (see [`OriginPolicy::is_member_page`]).
    pub fn allows(&self, origin: Option<&str>) -> bool {
        let Some(origin) = origin else {
            return true; // Not a browser page.
        };
        let origin = origin.to_ascii_lowercase();
        self.own.contains(&origin) || self.allowed.iter().any(|a| a == "*" || *a == origin)
    }

    /// Whether `origin` is a page served by this member or one of
    /// `members` (`host:port`, the cluster's current members).
    pub fn is_member_page<'a>(
        &self,
        origin: &str,
        members: impl IntoIterator<Item = &'a String>,
    ) -> bool {
        let origin = origin.to_ascii_lowercase();
        self.own.contains(&origin)
            || members
                .into_iter()
                .any(|member| origins_of(self.scheme, member).contains(&origin))
    }
}

/// The origins of pages a member at `host:port` serves over `scheme`: a
/// loopback member is also `localhost`, and a member on the scheme's
/// default port is also named without it (as browsers send it).
fn origins_of(scheme: &str, addr: &str) -> Vec<String> {
    let addr = addr.to_ascii_lowercase();
    let mut hosts = vec![addr.clone()];
    if let Some(port) = loopback_port(&addr) {
        hosts.push(format!("localhost:{port}"));
    }
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    let without_port: Vec<String> = hosts
        .iter()
        .filter_map(|host| host.strip_suffix(default_port).map(str::to_owned))
        .collect();
    hosts
        .into_iter()
        .chain(without_port)
        .map(|host| format!("{scheme}://{host}"))
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
        let policy = OriginPolicy::new(
            "127.0.0.1:7701",
            vec!["https://App.example.com/".into()],
            false,
        );
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
        let policy = OriginPolicy::new(
            "127.0.0.1:7701",
            vec!["https://app.example.com".into()],
            false,
        );
        let members = ["127.0.0.1:7701".to_owned(), "127.0.0.1:7702".to_owned()];
        assert!(policy.is_member_page("http://127.0.0.1:7702", &members));
        assert!(policy.is_member_page("http://localhost:7702", &members));
        assert!(!policy.is_member_page("http://127.0.0.1:7703", &members));
        assert!(!policy.is_member_page("http://evil.example:7702", &members));
        // Allowed is not the same as a member's.
        assert!(!policy.is_member_page("https://app.example.com", &members));
        // A TLS member's pages are https only, and named without :443.
        let tls = OriginPolicy::new("db.example:443", vec![], true);
        let members = ["db.example:443".to_owned(), "db2.example:7701".to_owned()];
        assert!(tls.allows(Some("https://db.example")));
        assert!(tls.is_member_page("https://db2.example:7701", &members));
        assert!(!tls.is_member_page("http://db2.example:7701", &members));
        assert!(!tls.allows(Some("http://db.example:443")));
    }

    #[test]
    fn a_star_allows_every_page_and_names_are_not_loopback() {
        let star = OriginPolicy::new("10.0.0.5:7701", vec!["*".into()], false);
        assert!(star.allows(Some("http://x")));
        let public = OriginPolicy::new("10.0.0.5:7701", vec![], true);
        assert!(!public.allows(Some("https://localhost:7701")));
        assert!(public.allows(Some("https://10.0.0.5:7701")));
        let v6 = OriginPolicy::new("[::1]:7701", vec![], false);
        assert!(v6.allows(Some("http://localhost:7701")));
    }
}
