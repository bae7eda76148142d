//! `raftcp auth`: make a signing key and tokens (see docs/security.md).

use crate::auth::{self, mint};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct AuthArgs {
    #[command(subcommand)]
    pub command: AuthCommand,
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Write an Ed25519 key pair to DIR: `signing-key.pk8` (private) and
    /// `jwks.json` (for `--auth-jwks`).
    Keygen {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Print a token signed with a key from `keygen`.
    Token {
        /// The private key (`signing-key.pk8`).
        #[arg(long)]
        key: PathBuf,
        /// Who the token is for (`sub`); sessions belong to it.
        #[arg(long)]
        subject: String,
        /// What it allows: `<kind>:<name pattern>[:read]` (kind `long`,
        /// `reference`, `lock`, `semaphore`, `latch` or `*`; a pattern may
        /// end in `*`), or `admin`. Repeat for several.
        #[arg(long = "allow", value_name = "RULE")]
        rules: Vec<String>,
        /// How long it is valid: 90s, 30m, 1h, 7d.
        #[arg(long, default_value = "1h", value_parser = mint::parse_ttl)]
        ttl: u64,
    },
}

pub fn run(args: AuthArgs) -> Result<(), String> {
    match args.command {
        AuthCommand::Keygen { dir } => {
            mint::keygen(&dir)?;
            println!(
                "wrote {} (keep it private) and {} (give it to --auth-jwks)",
                dir.join(mint::SIGNING_KEY_FILE).display(),
                dir.join(mint::JWKS_FILE).display()
            );
            Ok(())
        }
        AuthCommand::Token {
            key,
            subject,
            rules,
            ttl,
        } => {
            println!(
                "{}",
                mint::token(&key, &subject, &rules, auth::now_s(), ttl)?
            );
            Ok(())
        }
    }
}
