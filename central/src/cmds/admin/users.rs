//! `central admin user …`: accounts of the API and web UI. A changed
//! password, role or disabled flag ends the user's sessions at once.

use std::io::BufRead;
use std::process::ExitCode;

use anyhow::{Context, bail};
use central::auth::{Role, password};
use central::store::users::{self, Change};
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
    /// Give a user another role. Ends the user's sessions. The last
    /// active super_admin keeps theirs.
    #[command(visible_alias = "set-role")]
    Role {
        username: String,
        #[arg(value_enum)]
        role: Role,
    },
    /// Disable a user: no login, every session ended at once.
    Disable { username: String },
    /// Enable a disabled user again.
    Enable { username: String },
    /// Delete a user (their sessions and API keys go with them).
    Delete { username: String },
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
            if !users::valid_username(&username) {
                bail!("user names are 1-64 characters without spaces");
            }
            let (pw, generated) = new_password(password_stdin)?;
            let hash = hash(pw.clone()).await?;
            match users::create(client, None, &username, "", role, &hash).await {
                Ok(_) => {}
                Err(users::UserError::Taken(_)) => {
                    bail!("user {username:?} already exists (use `central admin user passwd`)")
                }
                Err(e) => return Err(e.into()),
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
            let change = Change {
                password_hash: Some(hash),
                ..Change::default()
            };
            change_user(client, &username, change).await?;
            println!("password of {username} changed; their sessions are ended");
            if generated {
                println!("password: {pw}");
            }
        }
        UserCommand::Role { username, role } => {
            let change = Change {
                role: Some(role),
                ..Change::default()
            };
            change_user(client, &username, change).await?;
            println!(
                "{username} is now {}; their sessions are ended",
                role.as_str()
            );
        }
        UserCommand::Disable { username } => {
            let change = Change {
                disabled: Some(true),
                ..Change::default()
            };
            change_user(client, &username, change).await?;
            println!("{username} is disabled; their sessions are ended");
        }
        UserCommand::Enable { username } => {
            let change = Change {
                disabled: Some(false),
                ..Change::default()
            };
            change_user(client, &username, change).await?;
            println!("{username} is enabled again");
        }
        UserCommand::Delete { username } => {
            in_transaction(client, async {
                let id = user_id(client, &username).await?;
                users::delete(client, None, id).await?;
                anyhow::Ok(())
            })
            .await?;
            println!("{username} is deleted");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Applies `change` to `username` with the store's rules (the last
/// active super_admin stays), ending their sessions, in one transaction:
/// every instance closes the user's WebSockets and refuses their tokens.
async fn change_user(
    client: &tokio_postgres::Client,
    username: &str,
    change: Change,
) -> anyhow::Result<()> {
    in_transaction(client, async {
        let id = user_id(client, username).await?;
        users::update(client, None, id, change).await?;
        anyhow::Ok(())
    })
    .await
}

async fn user_id(client: &tokio_postgres::Client, username: &str) -> anyhow::Result<Uuid> {
    Ok(users::by_name(client, username)
        .await?
        .with_context(|| format!("no user {username:?}"))?
        .id)
}

/// Runs `work` between BEGIN and COMMIT (ROLLBACK on error).
async fn in_transaction(
    client: &tokio_postgres::Client,
    work: impl Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<()> {
    client.batch_execute("BEGIN").await?;
    match work.await {
        Ok(()) => {
            client.batch_execute("COMMIT").await?;
            Ok(())
        }
        Err(e) => {
            client.batch_execute("ROLLBACK").await?;
            Err(e)
        }
    }
}
