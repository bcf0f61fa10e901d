//! `lightos model run | bench`: a model compiled by the graph engine and run through `/dev/lightos`
//! (every primitive a kernel job, on the backends the context routes it to) or, with
//! `--device local`, by the CPU backend's kernels in this process. Inputs come from `.npy` files or
//! a seeded generator; outputs are written as `.npy`.

use crate::progress;
use lightos_graph::{
    compile,
    ir::{known, DType, Dim, Graph},
    passes,
    session::{Session, Where},
    shape, weights,
};
use npyz::WriterBuilder;
use rand::{Rng, SeedableRng};
use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

type Error = Box<dyn std::error::Error>;

/// What `model run` and `model bench` share.
pub struct Options<'a> {
    /// The device node.
    pub node: &'a Path,
    /// `auto`, `local` or a kernel backend's name.
    pub device: &'a str,
    /// The `--passes` selection.
    pub passes: &'a str,
    /// Threads of the in-process engine.
    pub threads: usize,
    /// The in-process engine packs convolution filters on every run (as the kernel's CPU
    /// backend does), not once.
    pub repack_weights: bool,
    /// `NAME=FILE.npy` inputs.
    pub inputs: &'a [String],
    /// Seed of the generated inputs.
    pub seed: u64,
    /// Seed of random weights replacing the model's.
    pub random_weights: Option<u64>,
    /// Output logits (drop a final softmax).
    pub logits: bool,
    /// Print where each primitive ran and for how long (`model run`).
    pub profile: bool,
    /// JSON output.
    pub json: bool,
}

/// A loaded, optimized, compiled model with its inputs and its engine.
struct Prepared {
    /// The compiled model, its engine and where it runs.
    session: Session,
    feeds: Vec<Vec<u8>>,
    /// The inputs generated from the seed: name, dims, values.
    generated: Vec<(String, Vec<u64>, Array)>,
    steps: usize,
}

/// An input or output array: float32 values, or int64 ones (a `Gather`'s indices: token ids).
#[derive(Clone, Debug)]
enum Array {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

impl Array {
    /// Its little-endian bytes, as a feed.
    fn bytes(&self) -> Vec<u8> {
        match self {
            Array::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Array::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }
}

/// The `.npy` file's values and shape; its dtype must be `dtype`'s (f32 `<f4` or i64 `<i8`,
/// little-endian, C order).
fn read_npy(path: &Path, dtype: DType) -> Result<(Vec<u64>, Array), Error> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let npy = npyz::NpyFile::new(&bytes[..])
        .map_err(|e| format!("{}: not a .npy file: {e}", path.display()))?;
    let descr = npy.dtype().descr();
    let (want, name) = match dtype {
        DType::I64 => ("'<i8'", "int64"),
        _ => ("'<f4'", "float32"),
    };
    if descr != want {
        return Err(format!(
            "{}: dtype {descr}, the model's input is {name} ({want})",
            path.display()
        )
        .into());
    }
    if npy.order() != npyz::Order::C {
        return Err(format!(
            "{}: Fortran order; save it C-contiguous (np.ascontiguousarray)",
            path.display()
        )
        .into());
    }
    let shape = npy.shape().to_vec();
    let bad = |e: std::io::Error| format!("{}: {e}", path.display());
    let values = match dtype {
        DType::I64 => Array::I64(npy.into_vec::<i64>().map_err(bad)?),
        _ => Array::F32(npy.into_vec::<f32>().map_err(bad)?),
    };
    Ok((shape, values))
}

/// Writes `values` of `dims` as a `.npy` file of their dtype.
fn write_npy(path: &Path, dims: &[u64], values: &Array) -> Result<(), Error> {
    match values {
        Array::F32(v) => write_typed(path, dims, v),
        Array::I64(v) => write_typed(path, dims, v),
    }
}

/// Writes `values` of `dims` as a `.npy` file of `T`.
fn write_typed<T: npyz::AutoSerialize + Copy>(
    path: &Path,
    dims: &[u64],
    values: &[T],
) -> Result<(), Error> {
    let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(dims)
        .writer(std::io::BufWriter::new(file))
        .begin_nd()?;
    w.extend(values.iter().copied())?;
    w.finish()?;
    Ok(())
}

/// Binds each graph input's symbolic dimensions to the shape of the array given for it, and
/// checks the known ones; returns the arrays by input.
fn bind_inputs(graph: &mut Graph, given: &[String]) -> Result<Vec<Option<Array>>, Error> {
    let mut arrays = vec![None; graph.inputs.len()];
    for spec in given {
        let (name, file) = spec
            .split_once('=')
            .ok_or_else(|| format!("--input {spec}: NAME=FILE.npy"))?;
        let Some(i) = graph.inputs.iter().position(|v| v.name == name) else {
            let names: Vec<&str> = graph.inputs.iter().map(|v| v.name.as_str()).collect();
            return Err(format!(
                "--input {name}: the model has no input {name} (its inputs: {})",
                names.join(", ")
            )
            .into());
        };
        let (dims, values) = read_npy(Path::new(file), graph.inputs[i].dtype)?;
        let input = &mut graph.inputs[i];
        let shape = input.shape.clone().unwrap_or_default();
        if !lightos_graph::ir::fits(&shape, &dims) {
            return Err(format!(
                "input {name}: {file} holds {dims:?}, the model takes {}",
                lightos_graph::ir::shape_text(&shape)
            )
            .into());
        }
        input.shape = Some(dims.iter().map(|&d| Dim::Known(d)).collect());
        // Shape inference reads inputs from the value table: bind them there too.
        let bound = input.clone();
        graph.values.insert(bound.name.clone(), bound);
        arrays[i] = Some(values);
    }
    for v in &graph.inputs {
        if v.shape.as_deref().and_then(known).is_none() {
            return Err(format!(
                "input {} has symbolic dimensions {}: give it with --input {}=FILE.npy",
                v.name,
                lightos_graph::ir::shape_text(v.shape.as_deref().unwrap_or_default()),
                v.name
            )
            .into());
        }
    }
    Ok(arrays)
}

/// Loads, binds, optimizes and compiles the model for where it runs, makes the inputs, and
/// chooses the engine.
fn prepare(model: &Path, o: &Options) -> Result<Prepared, Error> {
    let on = passes::selection(o.passes)?;
    let spin = progress::spinner("compiling", &model.display().to_string(), o.json);
    let mut graph = lightos_graph::load(model)?;
    let arrays = bind_inputs(&mut graph, o.inputs)?;
    shape::infer(&mut graph)?;
    if let Some(seed) = o.random_weights {
        // Fills become initializers first, so that they are randomized too.
        passes::optimize(&mut graph, |p| p == "constants")?;
        weights::randomize(&mut graph, seed);
    }
    if o.logits {
        weights::drop_final_softmax(&mut graph);
    }
    passes::optimize(&mut graph, |p| on.contains(p))?;
    let at = Where {
        node: o.node,
        device: o.device,
        threads: o.threads,
        policy: lightos_graph::placement::default_policy(),
        pack_weights_once: !o.repack_weights,
    };
    let session = Session::start(&graph, at, crate::gpus::telemetry_for)?;
    if let Some(p) = &session.placement {
        eprintln!(
            "placement    the PowerGovernor puts the MATMULs on {} (of {}): {}",
            p.backend,
            p.candidates.join(", "),
            p.reason
        );
    }
    let program = session.engine.program();
    spin.finish_and_clear();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(o.seed);
    let mut generated = Vec::new();
    let mut feeds = Vec::new();
    for (input, given) in program.inputs.iter().zip(arrays) {
        let n = input.dims.iter().product::<u64>() as usize;
        let values = given.unwrap_or_else(|| {
            // Floats uniform in [0, 1); indices uniform over the rows they pick from.
            let v = match input.dtype {
                DType::I64 => {
                    let rows = compile::index_bound(&graph, &input.name).max(1) as i64;
                    Array::I64((0..n).map(|_| rng.gen_range(0..rows)).collect())
                }
                _ => Array::F32((0..n).map(|_| rng.gen::<f32>()).collect()),
            };
            generated.push((input.name.clone(), input.dims.clone(), v.clone()));
            v
        });
        feeds.push(values.bytes());
    }
    let steps = program.steps.len();
    Ok(Prepared {
        session,
        feeds,
        generated,
        steps,
    })
}

fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// A file name for output `name` (path separators and odd characters replaced).
fn file_name(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}.npy")
}

/// `lightos model run`: runs once, writes each output to `out_dir/NAME.npy`, prints a summary.
pub fn run(model: &Path, o: &Options, out_dir: &Path) -> Result<(), Error> {
    let mut p = prepare(model, o)?;
    let feeds: Vec<&[u8]> = p.feeds.iter().map(Vec::as_slice).collect();
    let spin = progress::spinner("running", &format!("{} steps", p.steps), o.json);
    let t = Instant::now();
    let outputs = p.session.engine.run(&feeds)?;
    let elapsed = t.elapsed();
    spin.finish_and_clear();
    std::fs::create_dir_all(out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    // Random inputs are written too (input-NAME.npy), so that a run can be repeated elsewhere.
    let mut inputs = Vec::new();
    for (name, dims, values) in &p.generated {
        let path = out_dir.join(format!("input-{}", file_name(name)));
        write_npy(&path, dims, values)?;
        inputs.push(serde_json::json!({"name": name, "file": path.display().to_string()}));
    }
    let mut written = Vec::new();
    for (binding, bytes) in p.session.engine.program().outputs.iter().zip(&outputs) {
        let values = floats(bytes);
        let path: PathBuf = out_dir.join(file_name(&binding.name));
        write_npy(&path, &binding.dims, &Array::F32(values.clone()))?;
        let mut top: Vec<(usize, f32)> = values.iter().copied().enumerate().collect();
        top.sort_by(|a, b| b.1.total_cmp(&a.1));
        top.truncate(5);
        written.push(serde_json::json!({
            "name": binding.name, "dims": binding.dims, "file": path.display().to_string(),
            "top": top.iter().map(|(i, v)| serde_json::json!([i, v])).collect::<Vec<_>>(),
        }));
    }
    let profile = if o.profile {
        p.session.profile()
    } else {
        Vec::new()
    };
    if o.json {
        let doc = serde_json::json!({
            "model": model.display().to_string(), "device": p.session.device, "steps": p.steps,
            "seconds": elapsed.as_secs_f64(), "outputs": written, "generated_inputs": inputs,
            "profile": profile,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    let program = p.session.engine.program();
    println!("model        {}", model.display());
    println!("device       {}", p.session.device);
    println!(
        "memory       {} buffers: arena {:.1} MB (naive {:.1} MB), weights {:.1} MB",
        program.spaces.len(),
        program.plan.peak as f64 / 1e6,
        program.plan.naive as f64 / 1e6,
        program.weight_bytes() as f64 / 1e6
    );
    println!(
        "ran          {} primitives in {:.1} ms",
        p.steps,
        elapsed.as_secs_f64() * 1e3
    );
    for i in &inputs {
        println!(
            "input        {} random (seed {}) -> {}",
            i["name"].as_str().unwrap_or(""),
            o.seed,
            i["file"].as_str().unwrap_or("")
        );
    }
    for w in &written {
        println!(
            "output       {} {} -> {}",
            w["name"].as_str().unwrap_or(""),
            w["dims"],
            w["file"].as_str().unwrap_or("")
        );
        let top: Vec<String> = w["top"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| format!("{}:{:.4}", e[0], e[1].as_f64().unwrap_or(0.0)))
                    .collect()
            })
            .unwrap_or_default();
        println!("  largest    {}", top.join("  "));
    }
    if o.profile {
        print_profile(&profile);
    }
    Ok(())
}

/// The profile's ten slowest primitives, and the time per device.
fn print_profile(profile: &[lightos_graph::session::StepProfile]) {
    let total: u64 = profile.iter().map(|p| p.ns).sum();
    let mut per_device: Vec<(String, u64, usize)> = Vec::new();
    for p in profile {
        match per_device.iter_mut().find(|(d, ..)| *d == p.device) {
            Some((_, ns, n)) => {
                *ns += p.ns;
                *n += 1;
            }
            None => per_device.push((p.device.clone(), p.ns, 1)),
        }
    }
    println!(
        "profile      {} primitives, {:.1} ms of device time",
        profile.len(),
        total as f64 / 1e6
    );
    for (device, ns, n) in &per_device {
        println!(
            "  on {device:<10} {n} primitives, {:.1} ms",
            *ns as f64 / 1e6
        );
    }
    let mut slow: Vec<&lightos_graph::session::StepProfile> = profile.iter().collect();
    slow.sort_by_key(|p| std::cmp::Reverse(p.ns));
    for p in slow.iter().take(10) {
        println!(
            "  {:>9.3} ms  {:<10} {:<8} {} ({})",
            p.ns as f64 / 1e6,
            p.device,
            p.primitive,
            p.node,
            p.op
        );
    }
}

/// `lightos model bench`: `warmup` runs, then `repeat` timed ones; prints latency quantiles.
pub fn bench(model: &Path, o: &Options, warmup: u32, repeat: u32) -> Result<(), Error> {
    let mut p = prepare(model, o)?;
    let feeds: Vec<&[u8]> = p.feeds.iter().map(Vec::as_slice).collect();
    let bar = progress::bar(u64::from(warmup + repeat.max(1)), "runs", o.json);
    for _ in 0..warmup {
        p.session.engine.run(&feeds)?;
        bar.inc(1);
    }
    let mut times: Vec<Duration> = Vec::new();
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        p.session.engine.run(&feeds)?;
        times.push(t.elapsed());
        bar.inc(1);
    }
    bar.finish_and_clear();
    times.sort();
    let q = |f: f64| times[((times.len() - 1) as f64 * f).round() as usize].as_secs_f64() * 1e3;
    if o.json {
        let doc = serde_json::json!({
            "model": model.display().to_string(), "device": p.session.device, "steps": p.steps,
            "runs": times.len(), "ms": {"min": q(0.0), "p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "max": q(1.0)},
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    println!("model        {}", model.display());
    println!("device       {}", p.session.device);
    println!(
        "{} runs of {} primitives: min {:.2} ms, median {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        times.len(),
        p.steps,
        q(0.0),
        q(0.5),
        q(0.9),
        q(0.99),
        q(1.0)
    );
    Ok(())
}
