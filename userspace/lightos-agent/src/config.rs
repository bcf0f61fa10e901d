//! The agent's config file and each model's `config.toml` (TOML). Unknown keys and bad values are
//! errors that name the file and the line (the `toml` crate's spans).
//!
//! ```toml
//! [server]
//! http = "127.0.0.1:8000"          # the inference protocol (REST), /metrics, the dashboard
//! grpc = "127.0.0.1:8001"          # the inference protocol (gRPC)
//! node = "/dev/lightos"            # the kernel's device; absent: models run in this process
//! max_request_bytes = 67108864     # larger request bodies: 413
//! threads = 2                      # threads of an in-process engine
//!
//! [models]
//! repository = "/srv/lightos/models"   # one directory per model (see repository.rs)
//! load = "all"                         # "all" at start, or "none" (load through the API)
//!
//! [governor]
//! policy = "predictive"                # how models with device = "governor" are placed (see below)
//!
//! [power.photonic0]                    # limits POWER_SET applies at start (a guarded device)
//! laser_cap_mw = 400                   # and/or tec_floor_permille = 100
//!
//! [auth]
//! token_file = "/etc/lightos/agent.token"  # or token = "…"; without one, state-changing calls are refused
//! ```

use lightos_graph::placement::Policy;
use serde::Deserialize;
use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::{Path, PathBuf},
};

/// A config file that could not be read or is not valid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not valid TOML, an unknown key, or a bad value: the parser's message names the line.
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Parses `text` (the contents of `path`) as a `T`.
pub fn parse<T: serde::de::DeserializeOwned>(text: &str, path: &Path) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Invalid {
        path: path.to_path_buf(),
        message: e.to_string().trim_end().to_string(),
    })
}

/// Reads and parses the file at `path`.
pub fn load<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

/// The agent's config file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Listening and limits.
    #[serde(default)]
    pub server: Server,
    /// The model repository.
    pub models: Models,
    /// Who may change state.
    #[serde(default)]
    pub auth: Auth,
    /// How the PowerGovernor places model engines.
    #[serde(default)]
    pub governor: Governor,
    /// Power limits applied to guarded devices at start, by device name (`[power.photonic0]`).
    #[serde(default)]
    pub power: BTreeMap<String, PowerLimit>,
}

/// `[power.DEVICE]`: the limits `POWER_SET` applies to a guarded device when the agent starts (the
/// node's power budget; `SetPowerLimit` changes them at run time).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PowerLimit {
    /// Laser cap (mW).
    pub laser_cap_mw: Option<u32>,
    /// Least TEC drive (per mille).
    pub tec_floor_permille: Option<u32>,
}

/// `[governor]`: the PowerGovernor that places the engines of models whose config says
/// `device = "governor"` (each instance's engine for each batch shape, at the time it starts).
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Governor {
    /// `round-robin`, `least-loaded`, `thermal-aware`, `predictive` (the default) or
    /// `sparsity-aware`.
    #[serde(default)]
    pub policy: PolicyName,
}

/// A governor policy, by the name the CLI gives it.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(try_from = "String")]
pub struct PolicyName(pub Policy);

impl Default for PolicyName {
    fn default() -> Self {
        PolicyName(lightos_graph::placement::default_policy())
    }
}

impl TryFrom<String> for PolicyName {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse().map(PolicyName)
    }
}

/// `[server]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Server {
    /// Where the HTTP server listens (loopback by default).
    pub http: SocketAddr,
    /// Where the gRPC server listens (loopback by default).
    pub grpc: SocketAddr,
    /// The kernel's device node.
    pub node: PathBuf,
    /// The largest request body accepted, in bytes.
    pub max_request_bytes: usize,
    /// Threads of an in-process engine.
    pub threads: usize,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            http: SocketAddr::from(([127, 0, 0, 1], 8000)),
            grpc: SocketAddr::from(([127, 0, 0, 1], 8001)),
            node: PathBuf::from(lightos_runtime::DEFAULT_DEVICE_PATH),
            max_request_bytes: 64 << 20,
            threads: 2,
        }
    }
}

/// Which models load at start.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LoadPolicy {
    /// Every model of the repository.
    #[default]
    All,
    /// None: clients load them (`POST /v2/repository/models/NAME/load`).
    None,
}

/// `[models]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Models {
    /// The repository directory.
    pub repository: PathBuf,
    /// Which load at start.
    #[serde(default)]
    pub load: LoadPolicy,
}

/// `[auth]`: the bearer token state-changing calls must carry.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// The token itself.
    pub token: Option<String>,
    /// A file holding it (whitespace around it ignored).
    pub token_file: Option<PathBuf>,
}

impl Auth {
    /// The token, read from `token_file` if that is how it is given; `None`: no token, so every
    /// state-changing call is refused.
    pub fn token(&self) -> Result<Option<String>, ConfigError> {
        match (&self.token, &self.token_file) {
            (Some(_), Some(f)) => Err(ConfigError::Invalid {
                path: f.clone(),
                message: "[auth] takes token or token_file, not both".into(),
            }),
            (Some(t), None) => Ok(Some(t.clone())),
            (None, Some(f)) => std::fs::read_to_string(f)
                .map(|t| Some(t.trim().to_string()))
                .map_err(|source| ConfigError::Read {
                    path: f.clone(),
                    source,
                }),
            (None, None) => Ok(None),
        }
    }
}

/// A model's `config.toml` in its repository directory; every key optional.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Where it runs: `auto`, `local`, `governor` or a backend's name.
    pub device: String,
    /// The most requests' rows one run takes (dynamic batching); 1: none.
    pub max_batch: usize,
    /// How long the first request of a batch waits for others (ms).
    pub max_queue_delay_ms: u64,
    /// Requests waiting beyond the running ones; more are refused (HTTP 429).
    pub queue: usize,
    /// Engines running batches side by side.
    pub instances: usize,
    /// Graph passes, as the CLI's `--passes` (`all`, `all,-fuse`, …).
    pub passes: String,
    /// A request not started within this many ms fails (HTTP 504); 0: no limit.
    pub timeout_ms: u64,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            device: "auto".into(),
            max_batch: 8,
            max_queue_delay_ms: 2,
            queue: 64,
            instances: 1,
            passes: "all".into(),
            timeout_ms: 0,
        }
    }
}

impl ModelConfig {
    /// Checks the values serde cannot: counts at least 1.
    pub fn check(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = |what: &str| ConfigError::Invalid {
            path: path.to_path_buf(),
            message: format!("{what} must be at least 1"),
        };
        if self.max_batch == 0 {
            return Err(bad("max_batch"));
        }
        if self.queue == 0 {
            return Err(bad("queue"));
        }
        if self.instances == 0 {
            return Err(bad("instances"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_what_is_left_out() {
        let c: Config = parse("[models]\nrepository = \"/m\"\n", Path::new("a.toml")).unwrap();
        assert_eq!(c.server.http.to_string(), "127.0.0.1:8000");
        assert_eq!(c.models.load, LoadPolicy::All);
        assert_eq!(c.auth.token().unwrap(), None);
        let m: ModelConfig = parse("max_batch = 4\n", Path::new("config.toml")).unwrap();
        assert_eq!((m.max_batch, m.device.as_str(), m.queue), (4, "auto", 64));
    }

    #[test]
    fn an_unknown_key_is_an_error_naming_the_line() {
        let text = "[server]\nhttp = \"127.0.0.1:1\"\nhtp = 3\n[models]\nrepository = \"/m\"\n";
        let e = parse::<Config>(text, Path::new("agent.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("agent.toml: "), "{e}");
        assert!(
            e.contains("line 3") && e.contains("unknown field `htp`"),
            "{e}"
        );
    }

    #[test]
    fn a_bad_value_is_an_error_naming_the_line() {
        let text = "[models]\nrepository = \"/m\"\nload = \"some\"\n";
        let e = parse::<Config>(text, Path::new("agent.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 3") && e.contains("unknown variant `some`"),
            "{e}"
        );
        let e = parse::<Config>(
            "[server]\nhttp = \"localhost\"\n[models]\nrepository = \"/m\"\n",
            Path::new("a"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("line 2") && e.contains("invalid socket address"),
            "{e}"
        );
        let e = parse::<ModelConfig>("max_batch = -1\n", Path::new("config.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 1"), "{e}");
        let m: ModelConfig = parse("instances = 0\n", Path::new("config.toml")).unwrap();
        assert!(m
            .check(Path::new("config.toml"))
            .unwrap_err()
            .to_string()
            .contains("instances"));
    }

    #[test]
    fn the_governor_policy_is_named_and_checked() {
        let c: Config = parse("[models]\nrepository = \"/m\"\n", Path::new("a")).unwrap();
        assert_eq!(c.governor.policy, PolicyName::default());
        let text = "[models]\nrepository = \"/m\"\n[governor]\npolicy = \"least-loaded\"\n";
        let c: Config = parse(text, Path::new("a")).unwrap();
        assert_eq!(c.governor.policy.0, Policy::LeastLoaded);
        let text = "[models]\nrepository = \"/m\"\n[governor]\npolicy = \"coolest\"\n";
        let e = parse::<Config>(text, Path::new("a"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 4") && e.contains("unknown policy"), "{e}");
    }

    #[test]
    fn power_limits_are_tables_by_device() {
        let text = "[models]\nrepository = \"/m\"\n[power.photonic0]\nlaser_cap_mw = 400\n";
        let c: Config = parse(text, Path::new("a")).unwrap();
        assert_eq!(
            c.power.get("photonic0"),
            Some(&PowerLimit {
                laser_cap_mw: Some(400),
                tec_floor_permille: None
            })
        );
        let text = "[models]\nrepository = \"/m\"\n[power.photonic0]\nlaser_cap = 400\n";
        let e = parse::<Config>(text, Path::new("a"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 4") && e.contains("unknown field `laser_cap`"),
            "{e}"
        );
    }

    #[test]
    fn a_config_without_models_is_refused() {
        let e = parse::<Config>("[server]\n", Path::new("a.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing field `models`"), "{e}");
    }

    #[test]
    fn the_token_comes_from_one_place() {
        let both = Auth {
            token: Some("a".into()),
            token_file: Some("/t".into()),
        };
        assert!(both.token().is_err());
        let dir = std::env::temp_dir().join(format!("lightos-agent-token-{}", std::process::id()));
        std::fs::write(&dir, "  s3cret\n").unwrap();
        let file = Auth {
            token: None,
            token_file: Some(dir.clone()),
        };
        assert_eq!(file.token().unwrap().as_deref(), Some("s3cret"));
        std::fs::remove_file(dir).unwrap();
    }
}
