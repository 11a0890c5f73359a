//! `central admin user …`: accounts of the API and web UI. A changed
//! password, role or disabled flag ends the user's sessions at once.

use std::io::BufRead;
use std::process::ExitCode;

use anyhow::{Context, bail};
use central::auth::{Role, password};
use rand::Rng;
use uuid::Uuid;

#[derive(Debug, clap::Subcommand)]
pub(super) enum UserCommand {
    /// Add a user. Prints a generated password unless --password-stdin.
    Add {
        #[arg(long)]
        username: String,
        #[arg(long, value_enum)]
        role: Role,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Set a user's password. Prints a generated one unless --password-stdin.
    /// Ends the user's sessions (their WebSockets close within a second).
    Passwd {
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Give a user another role. Ends the user's sessions.
    Role {
        username: String,
        #[arg(value_enum)]
        role: Role,
    },
    /// Disable a user: no login, every session ended at once.
    Disable { username: String },
    /// Enable a disabled user again.
    Enable { username: String },
}

/// The password from stdin, or a generated one (printed).
fn new_password(from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password")?;
        let pw = line.trim_end_matches(['\r', '\n']).to_owned();
        password::check_strength(&pw)?;
        return Ok((pw, false));
    }
    let pw: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(20)
        .map(char::from)
        .collect();
    Ok((pw, true))
}

async fn hash(pw: String) -> anyhow::Result<String> {
    Ok(tokio::task::spawn_blocking(move || password::hash(&pw)).await??)
}

pub(super) async fn user(
    cmd: UserCommand,
    client: &tokio_postgres::Client,
) -> anyhow::Result<ExitCode> {
    match cmd {
        UserCommand::Add {
            username,
            role,
            password_stdin,
        } => {
            if username.is_empty()
                || username.chars().count() > 64
                || username.chars().any(char::is_whitespace)
            {
                bail!("user names are 1-64 characters without spaces");
            }
            let (pw, generated) = new_password(password_stdin)?;
            let hash = hash(pw.clone()).await?;
            let n = client
                .execute(
                    "INSERT INTO users (id, username, password_hash, role) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (username) DO NOTHING",
                    &[&Uuid::now_v7(), &username, &hash, &role.as_str()],
                )
                .await?;
            if n == 0 {
                bail!("user {username:?} already exists (use `central admin user passwd`)");
            }
            println!("added user {username} ({})", role.as_str());
            if generated {
                println!("password: {pw}");
            }
        }
        UserCommand::List => {
            let rows = client
                .query(
                    "SELECT username, role, disabled, created_at FROM users ORDER BY username",
                    &[],
                )
                .await?;
            println!(
                "{:<24} {:<18} {:<9} created",
                "username", "role", "disabled"
            );
            for r in rows {
                let created: chrono::DateTime<chrono::Utc> = r.try_get("created_at")?;
                println!(
                    "{:<24} {:<18} {:<9} {}",
                    r.try_get::<_, String>("username")?,
                    r.try_get::<_, String>("role")?,
                    r.try_get::<_, bool>("disabled")?,
                    created.format("%Y-%m-%d %H:%M")
                );
            }
        }
        UserCommand::Passwd {
            username,
            password_stdin,
        } => {
            let (pw, generated) = new_password(password_stdin)?;
            let hash = hash(pw.clone()).await?;
            change_user(
                client,
                &username,
                "UPDATE users SET password_hash = $2, updated_at = now() WHERE username = $1 RETURNING id",
                &hash,
            )
            .await?;
            println!("password of {username} changed; their sessions are ended");
            if generated {
                println!("password: {pw}");
            }
        }
        UserCommand::Role { username, role } => {
            change_user(
                client,
                &username,
                "UPDATE users SET role = $2, updated_at = now() WHERE username = $1 RETURNING id",
                role.as_str(),
            )
            .await?;
            println!(
                "{username} is now {}; their sessions are ended",
                role.as_str()
            );
        }
        UserCommand::Disable { username } => {
            change_user(
                client,
                &username,
                "UPDATE users SET disabled = ($2 = 'yes'), updated_at = now() WHERE username = $1 RETURNING id",
                "yes",
            )
            .await?;
            println!("{username} is disabled; their sessions are ended");
        }
        UserCommand::Enable { username } => {
            change_user(
                client,
                &username,
                "UPDATE users SET disabled = ($2 = 'yes'), updated_at = now() WHERE username = $1 RETURNING id",
                "no",
            )
            .await?;
            println!("{username} is enabled again");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `update` (`$1` the user name, `$2` the value, returning the id)
/// and ends the user's sessions, in one transaction: every instance closes
/// the user's WebSockets and refuses their tokens.
async fn change_user(
    client: &tokio_postgres::Client,
    username: &str,
    update: &str,
    value: &str,
) -> anyhow::Result<()> {
    client.batch_execute("BEGIN").await?;
    let result = async {
        let row = client
            .query_opt(update, &[&username, &value])
            .await?
            .with_context(|| format!("no user {username:?}"))?;
        let id: Uuid = row.try_get("id")?;
        central::auth::sessions::end_all(client, id).await?;
        anyhow::Ok(())
    }
    .await;
    match result {
        Ok(()) => client.batch_execute("COMMIT").await?,
        Err(e) => {
            // The statement's error is what the admin needs; a failed
            // ROLLBACK ends with this one-shot connection anyway.
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(e);
        }
    }
    Ok(())
}
