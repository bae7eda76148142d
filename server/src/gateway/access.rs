//! What one client connection may do: everything, on a member without
//! `--auth-jwks`, or what its token grants, until the token expires.

use crate::auth::permissions::op_name;
use crate::auth::{self, AuthError, Authenticator, Grant};
use crate::machine::Kind;
use raftcp_proto::{GroupName, Op, OpError};

#[derive(Clone, Debug)]
pub enum Access {
    /// The member takes anonymous clients (loopback, or `--allow-anonymous`).
    Anonymous,
    Token(Grant),
}

impl Access {
    /// The access a handshake's token gives. A token sent to a member
    /// without `--auth-jwks` is not read: every client there is anonymous.
    pub fn from_token(
        authenticator: Option<&Authenticator>,
        token: Option<&str>,
    ) -> Result<Access, OpError> {
        let Some(authenticator) = authenticator else {
            return Ok(Access::Anonymous);
        };
        let Some(token) = token else {
            let reason = "this cluster needs a token (`token` when connecting)".to_owned();
            return Err(OpError::Unauthenticated { reason });
        };
        match authenticator.verify(token, auth::now_s()) {
            Ok(grant) => Ok(Access::Token(grant)),
            Err(AuthError::Expired) => Err(OpError::TokenExpired),
            Err(AuthError::Unauthenticated(reason)) => Err(OpError::Unauthenticated { reason }),
        }
    }

    /// The token subject sessions opened here belong to.
    pub fn subject(&self) -> Option<String> {
        match self {
            Access::Anonymous => None,
            Access::Token(grant) => Some(grant.subject.clone()),
        }
    }

    /// Whether admin operations may run now: for a token with the `admin`
    /// rule, and for anonymous clients only when `local` (the member listens
    /// on loopback only and the client connects from there): a member
    /// serving anonymous clients elsewhere, with `--allow-anonymous`, does
    /// not let them change its membership.
    pub fn check_admin(&self, local: bool) -> Result<(), OpError> {
        let allowed = match self {
            Access::Anonymous => local,
            Access::Token(grant) if grant.expired(auth::now_s()) => {
                return Err(OpError::TokenExpired);
            }
            Access::Token(grant) => grant.permissions.is_admin(),
        };
        match allowed {
            true => Ok(()),
            false => Err(OpError::PermissionDenied {
                kind: "admin".into(),
                name: String::new(),
            }),
        }
    }

    /// Whether `op` in `group` may run now; a refusal changes nothing.
    pub fn check(&self, op: &Op, group: &GroupName) -> Result<(), OpError> {
        let Access::Token(grant) = self else {
            return Ok(());
        };
        if grant.expired(auth::now_s()) {
            return Err(OpError::TokenExpired);
        }
        // Rules name objects as users do: `name@group` outside the default.
        let name = match group == &GroupName::default_group() {
            true => op_name(op).to_owned(),
            false => format!("{}@{}", op_name(op), group.as_str()),
        };
        if !grant.permissions.allows_named(op, &name) {
            return Err(OpError::PermissionDenied {
                kind: Kind::of(op).as_str().to_owned(),
                name,
            });
        }
        Ok(())
    }
}
