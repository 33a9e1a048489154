//! The command line: `serve`, `migrate`, `org create`, `token rotate`,
//! `api-key create|list|revoke`, `client create|list|delete`, `op-keys rotate`,
//! `sp-keys rotate|list`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, LogFormat};
use crate::provisioning::{self, Actor};
use crate::state::{redact_url, StartupError};
use crate::store::Store;

#[derive(Debug, Parser)]
#[command(
    name = "sso-gateway",
    version,
    about = "Single sign-on and SCIM provisioning gateway"
)]
pub struct Cli {
    /// Configuration file overriding the built-in defaults (environment
    /// variables SSO_GATEWAY__SECTION__KEY override both).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway (applies pending migrations first).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage organizations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage organization admin tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage the host product's platform API keys (deployment-wide).
    #[command(subcommand)]
    ApiKey(ApiKeyCommand),
    /// Manage the apps that sign people in with the gateway's OpenID Provider.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage the OpenID Provider's ID-token signing keys.
    #[command(subcommand)]
    OpKeys(OpKeysCommand),
    /// Manage the SAML service provider's signing and encryption keys.
    #[command(subcommand)]
    SpKeys(SpKeysCommand),
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organization and print its id and a new admin token.
    Create {
        /// The organization's display name.
        #[arg(long)]
        name: String,
        /// Print exactly one JSON line: {"org_id": "…", "admin_token": "…"}.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue a new admin token for an organization and revoke all its others.
    Rotate {
        /// The organization id.
        #[arg(long)]
        org: String,
        /// Print exactly one JSON line: {"org_id": "…", "admin_token": "…"}.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create a platform API key and print it (shown only this once).
    Create {
        /// What the key is for (shown by `api-key list`).
        #[arg(long)]
        name: String,
        /// Print exactly one JSON line: {"id": "…", "api_key": "…"}.
        #[arg(long)]
        json: bool,
    },
    /// List the keys (never the keys themselves).
    List,
    /// Revoke a key: requests made with it are refused from now on.
    Revoke {
        /// The key's id (from `api-key list`).
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register an app and print its client_id and secret (shown only this once).
    Create {
        /// What the app is (shown by `client list`).
        #[arg(long)]
        name: String,
        /// Where codes may be sent (exact match); repeat for several.
        #[arg(long = "redirect-uri", value_name = "URI", required = true, num_args = 1..)]
        redirect_uris: Vec<String>,
        /// Where sign-out may send the person back to; repeat for several.
        #[arg(long = "post-logout-redirect-uri", value_name = "URI", num_args = 1..)]
        post_logout_redirect_uris: Vec<String>,
        /// A browser or native app without a secret: it must use PKCE S256.
        #[arg(long)]
        public: bool,
        /// Print exactly one JSON line: {"client_id": "…", "client_secret": "…"}.
        #[arg(long)]
        json: bool,
    },
    /// List the apps (never their secrets).
    List,
    /// Delete an app: its codes and access tokens stop working.
    Delete {
        /// The client_id (from `client list`).
        client_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum OpKeysCommand {
    /// Make a new signing key current; the previous one stays published in
    /// /oauth2/jwks until the ID tokens it signed have expired.
    Rotate,
}

#[derive(Debug, Subcommand)]
pub enum SpKeysCommand {
    /// Stage a next key: published in SP metadata at once, used after
    /// saml.sp_key_overlap_hours (or at once with --now); the current key
    /// becomes previous and stays usable for decryption.
    Rotate {
        #[arg(long, value_enum, default_value = "both")]
        purpose: SpKeyPurpose,
        /// Make the new key (or one already staged) current at once.
        #[arg(long)]
        now: bool,
    },
    /// List the keys: purpose, state, generation, fingerprint, expiry
    /// (never a private key).
    List,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SpKeyPurpose {
    Signing,
    Encryption,
    Both,
}

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error("{0}")]
    Rule(#[from] provisioning::RuleError),
    #[error("{0}")]
    Op(#[from] crate::op::OpError),
    #[error("{0}")]
    SpKeys(#[from] crate::saml::keys::SpKeyError),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    init_tracing(&config, matches!(cli.command, Command::Serve));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `serve` logs at the configured level; one-shot commands only warn, so
/// their stdout stays machine-readable.
fn init_tracing(config: &Config, serving: bool) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(f) => tracing_subscriber::EnvFilter::new(f),
        Err(_) if serving => tracing_subscriber::EnvFilter::new(&config.server.log_level),
        Err(_) => tracing_subscriber::EnvFilter::new("warn"),
    };
    use std::io::IsTerminal;
    // Colour only for a person at a terminal, never into files or shippers.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match config.server.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn open_store(config: &Config) -> Result<Store, StartupError> {
    let store =
        Store::connect(&config.database)
            .await
            .map_err(|source| StartupError::Database {
                url: redact_url(&config.database.url),
                source,
            })?;
    store.migrate().await.map_err(StartupError::Migrate)?;
    Ok(store)
}

/// Field order is part of the contract: `{"org_id": …, "admin_token": …}`.
#[derive(serde::Serialize)]
struct TokenLine<'a> {
    org_id: &'a str,
    admin_token: &'a str,
}

fn print_token(org_id: &str, admin_token: &str, as_json: bool, headline: &str) {
    if as_json {
        print_json_line(&TokenLine {
            org_id,
            admin_token,
        });
    } else {
        println!("{headline}");
        println!("  org_id:      {org_id}");
        println!("  admin_token: {admin_token}");
        println!("The admin token is shown only now; store it somewhere safe.");
    }
}

/// Field order is part of the contract: `{"id": …, "api_key": …}`.
#[derive(serde::Serialize)]
struct ApiKeyLine<'a> {
    id: &'a str,
    api_key: &'a str,
}

fn print_json_line(line: &impl serde::Serialize) {
    match serde_json::to_string(line) {
        Ok(json) => println!("{json}"),
        // Strings always encode; were that ever not so, say it rather
        // than print half a line.
        Err(e) => eprintln!("error: cannot encode the answer as JSON: {e}"),
    }
}

/// A stored time for people (UTC, to the minute), or `-`.
fn when(ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map_or_else(|| "-".into(), |t| t.format("%Y-%m-%d %H:%M").to_string())
}

async fn api_key(store: &Store, command: ApiKeyCommand) -> Result<(), CliError> {
    match command {
        ApiKeyCommand::Create { name, json } => {
            let created = provisioning::create_api_key(store, &name).await?;
            if json {
                print_json_line(&ApiKeyLine {
                    id: &created.key.id,
                    api_key: &created.api_key,
                });
            } else {
                println!("API key created.");
                println!("  id:      {}", created.key.id);
                println!("  api_key: {}", created.api_key);
                println!("The API key is shown only now; store it somewhere safe.");
            }
        }
        ApiKeyCommand::List => {
            println!(
                "{:<36}  {:<16}  {:<16}  {:<16}  NAME",
                "ID", "CREATED (UTC)", "LAST USED", "REVOKED"
            );
            for key in store
                .api_keys()
                .await
                .map_err(provisioning::RuleError::from)?
            {
                println!(
                    "{:<36}  {:<16}  {:<16}  {:<16}  {}",
                    key.id,
                    when(Some(key.created_at)),
                    when(key.last_used_at),
                    when(key.revoked_at),
                    key.name
                );
            }
        }
        ApiKeyCommand::Revoke { id } => {
            provisioning::revoke_api_key(store, &id).await?;
            println!("API key {id} revoked.");
        }
    }
    Ok(())
}

/// Field order is part of the contract: `{"client_id": …, "client_secret": …}`
/// (`null` for a public client).
#[derive(serde::Serialize)]
struct ClientLine<'a> {
    client_id: &'a str,
    client_secret: Option<&'a str>,
}

async fn client(store: &Store, command: ClientCommand) -> Result<(), CliError> {
    match command {
        ClientCommand::Create {
            name,
            redirect_uris,
            post_logout_redirect_uris,
            public,
            json,
        } => {
            let created = crate::op::clients::create(
                store,
                &crate::op::clients::NewClient {
                    name: &name,
                    redirect_uris: &redirect_uris,
                    post_logout_redirect_uris: &post_logout_redirect_uris,
                    public,
                },
            )
            .await?;
            let secret = created.client_secret.as_deref();
            if json {
                print_json_line(&ClientLine {
                    client_id: &created.client.id,
                    client_secret: secret,
                });
            } else {
                println!("Client created.");
                println!("  client_id:     {}", created.client.id);
                match secret {
                    Some(secret) => {
                        println!("  client_secret: {secret}");
                        println!("The client secret is shown only now; store it somewhere safe.");
                    }
                    None => println!("A public client: no secret; it must use PKCE (S256)."),
                }
            }
        }
        ClientCommand::List => {
            println!(
                "{:<36}  {:<16}  {:<12}  {:<24}  REDIRECT URIS",
                "CLIENT ID", "CREATED (UTC)", "TYPE", "NAME"
            );
            for c in store
                .op_clients()
                .await
                .map_err(provisioning::RuleError::from)?
            {
                println!(
                    "{:<36}  {:<16}  {:<12}  {:<24}  {}",
                    c.id,
                    when(Some(c.created_at)),
                    if c.public { "public" } else { "confidential" },
                    c.name,
                    c.redirect_uris.join(" ")
                );
            }
        }
        ClientCommand::Delete { client_id } => {
            crate::op::clients::delete(store, &client_id).await?;
            println!("Client {client_id} deleted.");
        }
    }
    Ok(())
}

async fn op_keys(store: &Store, config: &Config, command: OpKeysCommand) -> Result<(), CliError> {
    match command {
        OpKeysCommand::Rotate => {
            let secrets =
                crate::secrets::SecretBox::load(&config.secrets).map_err(StartupError::from)?;
            let rotated = crate::op::keys::rotate(store, &secrets, &config.op).await?;
            println!(
                "New OP signing key {} (generation {}) is current; running instances take it up within 30 s.",
                rotated.kid, rotated.generation
            );
            println!(
                "The previous key stays in /oauth2/jwks until its ID tokens have expired ({} retired key(s) removed).",
                rotated.removed
            );
        }
    }
    Ok(())
}

async fn sp_keys(store: &Store, config: &Config, command: SpKeysCommand) -> Result<(), CliError> {
    use crate::saml::keys::{self, Purpose, Rotated, Rotation};
    match command {
        SpKeysCommand::Rotate { purpose, now } => {
            let secrets =
                crate::secrets::SecretBox::load(&config.secrets).map_err(StartupError::from)?;
            let purposes: &[Purpose] = match purpose {
                SpKeyPurpose::Signing => &[Purpose::Signing],
                SpKeyPurpose::Encryption => &[Purpose::Encryption],
                SpKeyPurpose::Both => &Purpose::ALL,
            };
            let host = keys::subject_host(config);
            let rotation = Rotation {
                purposes,
                now,
                overlap_hours: config.saml.sp_key_overlap_hours,
                host: &host,
            };
            for done in keys::rotate(store, &secrets, &rotation).await? {
                match done {
                    Rotated::Staged {
                        purpose,
                        generation,
                        fingerprint,
                        active_from,
                        removed,
                    } => println!(
                        "New SP {} key (generation {generation}, SHA-256 {fingerprint}) is published now and current from {}; {removed} retired key(s) removed.",
                        purpose.as_str(),
                        keys::when(active_from)
                    ),
                    Rotated::Promoted {
                        purpose,
                        generation,
                        removed,
                    } => println!(
                        "The staged SP {} key (generation {generation}) is current now; {removed} retired key(s) removed.",
                        purpose.as_str()
                    ),
                }
            }
            println!("Running instances take the change up within 30 s.");
        }
        SpKeysCommand::List => {
            println!(
                "{:<10}  {:<8}  {:>3}  {:<64}  {:<20}  ACTIVE FROM",
                "PURPOSE", "STATE", "GEN", "SHA-256 FINGERPRINT", "NOT AFTER"
            );
            for key in keys::list(store).await.map_err(keys::SpKeyError::from)? {
                println!(
                    "{:<10}  {:<8}  {:>3}  {:<64}  {:<20}  {}",
                    key.purpose.as_str(),
                    key.state.as_str(),
                    key.generation,
                    key.fingerprint,
                    keys::when(key.not_after),
                    keys::when(key.active_from)
                );
            }
        }
    }
    Ok(())
}

async fn run(command: Command, config: Config) -> Result<(), CliError> {
    match command {
        Command::Serve => crate::web::serve(config).await?,
        Command::Migrate => {
            let store = open_store(&config).await?;
            store.close().await;
            println!("database is up to date");
        }
        Command::Org(OrgCommand::Create { name, json }) => {
            let store = open_store(&config).await?;
            let created = provisioning::create_organization(&store, &name, &Actor::Cli).await?;
            store.close().await;
            print_token(
                &created.organization.id,
                &created.admin_token,
                json,
                "Organization created.",
            );
        }
        Command::Token(TokenCommand::Rotate { org, json }) => {
            let store = open_store(&config).await?;
            let token = provisioning::rotate_admin_token(&store, &org, &Actor::Cli).await?;
            store.close().await;
            print_token(
                &org,
                &token,
                json,
                "New admin token issued; all earlier ones are revoked.",
            );
        }
        Command::ApiKey(command) => {
            let store = open_store(&config).await?;
            let done = api_key(&store, command).await;
            store.close().await;
            done?;
        }
        Command::Client(command) => {
            let store = open_store(&config).await?;
            let done = client(&store, command).await;
            store.close().await;
            done?;
        }
        Command::OpKeys(command) => {
            let store = open_store(&config).await?;
            let done = op_keys(&store, &config, command).await;
            store.close().await;
            done?;
        }
        Command::SpKeys(command) => {
            let store = open_store(&config).await?;
            let done = sp_keys(&store, &config, command).await;
            store.close().await;
            done?;
        }
    }
    Ok(())
}
