//! The model repository: one directory per model, named as the model, laid out as Triton's:
//!
//! ```text
//! repository/
//!   squeezenet/
//!     config.toml          # optional: device, max_batch, max_queue_delay_ms, queue, instances, …
//!     1/model.onnx         # versions are numbered directories; the highest is served
//!   encoder/
//!     model.onnx           # or the file directly in the model's directory (version 1)
//! ```
//!
//! A model file is `model.onnx` or `model.lgraph` (the graph engine's native format). The models
//! loaded are kept here by name; loading and unloading happen at run time.

use crate::{
    config::{self, ModelConfig},
    model::{Model, Placement},
};
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
};

/// A model directory found in the repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The model's name.
    pub name: String,
    /// The version that would be served.
    pub version: String,
    /// Its model file.
    pub file: PathBuf,
}

/// The repository and the models loaded from it.
pub struct Repository {
    root: PathBuf,
    at: Placement,
    loaded: RwLock<BTreeMap<String, Arc<Model>>>,
}

fn model_file(dir: &Path) -> Option<PathBuf> {
    ["model.onnx", "model.lgraph"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
}

impl Repository {
    /// The repository at `root`; models run as `at` says.
    pub fn new(root: &Path, at: Placement) -> Self {
        Repository {
            root: root.to_path_buf(),
            at,
            loaded: RwLock::new(BTreeMap::new()),
        }
    }

    /// Where its models run.
    pub fn placement(&self) -> &Placement {
        &self.at
    }

    /// Every model directory, by name.
    pub fn index(&self) -> Result<Vec<Entry>, String> {
        let dir = std::fs::read_dir(&self.root)
            .map_err(|e| format!("the model repository {}: {e}", self.root.display()))?;
        let mut out: Vec<Entry> = dir
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .filter_map(|e| self.entry(&e.file_name().to_string_lossy()))
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Model `name`'s directory, if it holds a model.
    fn entry(&self, name: &str) -> Option<Entry> {
        if name.is_empty() || name.starts_with('.') || name.contains('/') {
            return None;
        }
        let dir = self.root.join(name);
        let newest = std::fs::read_dir(&dir)
            .ok()?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let v: u64 = e.file_name().to_str()?.parse().ok()?;
                Some((v, model_file(&e.path())?))
            })
            .max_by_key(|(v, _)| *v);
        let (version, file) = match newest {
            Some((v, f)) => (v.to_string(), f),
            None => ("1".to_string(), model_file(&dir)?),
        };
        Some(Entry {
            name: name.to_string(),
            version,
            file,
        })
    }

    /// Loads model `name` (again, if it is loaded: the new one replaces it once it has loaded).
    pub fn load(&self, name: &str) -> Result<Arc<Model>, String> {
        let e = self.entry(name).ok_or_else(|| {
            format!(
                "no model '{name}' in the repository {}",
                self.root.display()
            )
        })?;
        let cfg_path = self.root.join(name).join("config.toml");
        let cfg: ModelConfig = if cfg_path.is_file() {
            let c: ModelConfig = config::load(&cfg_path).map_err(|e| e.to_string())?;
            c.check(&cfg_path).map_err(|e| e.to_string())?;
            c
        } else {
            ModelConfig::default()
        };
        let model = Model::load(&e.name, &e.version, &e.file, cfg, &self.at)?;
        let old = self
            .loaded
            .write()
            .map_err(|_| "the repository's lock is poisoned".to_string())?
            .insert(name.to_string(), Arc::clone(&model));
        if let Some(old) = old {
            old.unload();
        }
        Ok(model)
    }

    /// Unloads model `name`: new requests are refused, queued ones finish.
    pub fn unload(&self, name: &str) -> Result<(), String> {
        let old = self
            .loaded
            .write()
            .map_err(|_| "the repository's lock is poisoned".to_string())?
            .remove(name)
            .ok_or_else(|| format!("model '{name}' is not loaded"))?;
        old.unload();
        Ok(())
    }

    /// Loaded model `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Model>> {
        self.loaded.read().ok()?.get(name).cloned()
    }

    /// Every loaded model.
    pub fn loaded(&self) -> Vec<Arc<Model>> {
        self.loaded
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Unloads every model (graceful shutdown: each finishes its queue).
    pub fn unload_all(&self) {
        let all = self
            .loaded
            .write()
            .map(|mut m| std::mem::take(&mut *m))
            .unwrap_or_default();
        for m in all.values() {
            m.unload();
        }
    }
}
