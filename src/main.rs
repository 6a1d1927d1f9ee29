//! The command line: parses arguments and calls into the library.

use anyhow::Context;
use atelier::{Application, Config};
use clap::{Parser, Subcommand};
use migration::{Migrator, MigratorTrait};
use tracing_subscriber::EnvFilter;

/// mimalloc: thread-local free lists instead of the system allocator's shared arenas,
/// for a server that allocates and frees many small values per request.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "atelier",
    version,
    about = "Atelier: content operations with privacy built in"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API, the portal and the job runner (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the GraphQL schema (SDL) as committed in schema.graphql.
    ExportSchema,
    /// Manage the token-encryption keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage staff accounts of the compliance portal.
    Staff {
        #[command(subcommand)]
        command: StaffCommand,
    },
    /// Fill the database with demo content for the benchmark (not in production):
    /// per unit of scale, 10 workspaces, 50 members, 100,000 drafts, 1,000,000 comments.
    /// Prints how to sign in as JSON.
    SeedDemo {
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
    },
    /// Seal the audit events written so far into the chain, verify the whole chain and
    /// print what was found as JSON; exits non-zero when a link does not hold.
    VerifyAudit,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Re-seal every stored token and queued sealed job under the first key of
    /// ATELIER_TOKEN_KEYS, and report the counts.
    Rotate,
}

#[derive(Subcommand)]
enum StaffCommand {
    /// Create a staff account; the password is read from standard input.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// ADMIN, COMPLIANCE or SUPPORT.
        #[arg(long, default_value = "COMPLIANCE")]
        role: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("ATELIER_LOG")
                .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn")),
        )
        .init();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve().await,
        Command::Migrate => {
            let config = Config::load()?;
            config.check_production()?;
            std::fs::create_dir_all(&config.data_dir)?;
            let db = atelier::db::connect(&config.database_url()).await?;
            Migrator::up(&db, None)
                .await
                .context("database migrations failed")?;
            println!("migrations applied");
            Ok(())
        }
        Command::ExportSchema => {
            print!("{}", atelier::graphql::sdl());
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::Rotate,
        } => rotate_keys().await,
        Command::Staff {
            command: StaffCommand::Create { email, name, role },
        } => create_staff(&email, &name, &role).await,
        Command::SeedDemo { scale } => seed_demo(scale).await,
        Command::VerifyAudit => verify_audit().await,
    }
}

async fn verify_audit() -> anyhow::Result<()> {
    let config = Config::load()?;
    let db = atelier::db::connect(&config.database_url()).await?;
    let sealed = atelier::domain::ops::audit::seal(&db).await?;
    let report = atelier::domain::ops::audit::verify_chain(&db).await?;
    println!(
        "{}",
        serde_json::json!({
            "sealed_now": sealed,
            "events_checked": report.events_checked,
            "unsealed": report.unsealed,
            "first_broken_seq": report.first_broken_seq,
        })
    );
    anyhow::ensure!(
        report.is_intact(),
        "the audit chain is broken at event {:?}",
        report.first_broken_seq
    );
    Ok(())
}

async fn seed_demo(scale: f64) -> anyhow::Result<()> {
    let config = Config::load()?;
    anyhow::ensure!(
        !config.is_production(),
        "seed-demo refuses to write demo content into a production database"
    );
    anyhow::ensure!(
        scale > 0.0 && scale <= 100.0,
        "--scale must be above 0 and at most 100"
    );
    std::fs::create_dir_all(&config.data_dir)?;
    let db = atelier::db::connect(&config.database_url()).await?;
    Migrator::up(&db, None)
        .await
        .context("database migrations failed")?;
    let started = std::time::Instant::now();
    let seeded = atelier::seed::seed_demo(&db, scale, |step| {
        eprintln!("seeded {step} ({:.0?})", started.elapsed())
    })
    .await?;
    println!("{}", serde_json::to_string(&seeded)?);
    Ok(())
}

async fn rotate_keys() -> anyhow::Result<()> {
    let config = Config::load()?;
    config.check_production()?;
    let spec = config
        .token_keys
        .clone()
        .context("set ATELIER_TOKEN_KEYS to the new key first, followed by the old ones")?;
    let vault = atelier::crypto::vault::Vault::from_spec(&spec)?;
    let db = atelier::db::connect(&config.database_url()).await?;
    Migrator::up(&db, None)
        .await
        .context("database migrations failed")?;
    let rotation = atelier::domain::upkeep::keys::rotate(
        &db,
        &vault,
        atelier::domain::ops::audit::Actor::System,
        &Default::default(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    println!(
        "re-sealed under key {:?}: {} integration token rows, {} queued jobs, {} personal data keys ({} token rows were already current)",
        vault.current_key_id(),
        rotation.integration_tokens,
        rotation.queued_jobs,
        rotation.person_keys,
        rotation.already_current
    );
    Ok(())
}

async fn create_staff(email: &str, name: &str, role: &str) -> anyhow::Result<()> {
    use atelier::domain::ops::audit::Actor;
    use atelier::domain::staff::accounts::{self as staff, StaffRole};

    let role = StaffRole::parse(role).context("--role must be ADMIN, COMPLIANCE or SUPPORT")?;
    eprintln!("Password for {email} (read from standard input):");
    let mut password = String::new();
    std::io::stdin().read_line(&mut password)?;
    let password = password.trim_end_matches(['\r', '\n']);
    let config = Config::load()?;
    config.check_production()?;
    std::fs::create_dir_all(&config.data_dir)?;
    let db = atelier::db::connect(&config.database_url()).await?;
    Migrator::up(&db, None)
        .await
        .context("database migrations failed")?;
    let created = staff::create_staff(
        &db,
        email,
        name,
        password,
        role,
        Actor::System,
        &Default::default(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "staff account {} created with role {}",
        created.email, created.role
    );
    Ok(())
}

async fn serve() -> anyhow::Result<()> {
    let config = Config::load()?;
    let app = Application::build(config.clone()).await?;
    let addr = format!("{}:{}", config.listen_addr()?.ip(), app.port());
    tracing::info!(
        "Atelier is serving on http://{addr} (GraphQL at /graphql); mail goes to {}",
        app.mail_destination()
    );
    println!("Atelier is listening on http://{addr}");
    println!("Mail goes to {}", app.mail_destination());
    if let Some(link) = app.staff_setup_link().await? {
        println!("No staff account exists yet. Create the first admin at: {link}");
    }
    app.run_until_stopped(shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
