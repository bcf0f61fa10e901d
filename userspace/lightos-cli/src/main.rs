//! `lightos`: the LightOS command line.

mod bench;
mod devices;
mod executor;
mod govern;
mod gpus;
mod info;
mod model;
mod model_run;
mod progress;
mod run;
mod run_mlp;
mod snn;
mod thermal;
mod top;

use clap::{Parser, Subcommand};
use std::{path::PathBuf, process::ExitCode, time::Duration};

/// LightOS: one interface to AI compute on GPUs, CPUs and photonic NPUs, through /dev/lightos.
#[derive(Parser, Debug)]
#[command(name = "lightos", version, about, long_about = None)]
struct Cli {
    /// The LightOS device node.
    #[arg(long, global = true, default_value = lightos_runtime::DEFAULT_DEVICE_PATH, value_name = "PATH")]
    device: PathBuf,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show the kernel module's version, ABI, capabilities and limits.
    ///
    /// Opens the device node (a new kernel context), calls LIGHTOS_IOC_GET_INFO and prints the reply.
    /// Exits 1 with the errno and a hint when the module is not loaded or refuses the call.
    Info,
    /// List every compute device: the kernel's backends and the CPU backend available locally.
    ///
    /// Per kernel backend (QUERY_BACKENDS): name, id, kind (device driver or userspace executor),
    /// the ops and dtypes it runs, which ops it runs bit-reproducibly, queued and running jobs,
    /// jobs done and errors, and for a device with a thermal guard its temperature, state,
    /// trip points and laser limit (QUERY_THERMAL). Then the local CPU backend: threads,
    /// micro-kernel, caches and the GEMM blocking derived from them.
    Devices,
    /// Live per-device temperature, power, power cap, TEC drive, queue depth and jobs, with the
    /// PowerGovernor's view.
    ///
    /// Refreshes every INTERVAL seconds until interrupted (or ITERATIONS refreshes). Telemetry comes
    /// from QUERY_BACKENDS and QUERY_THERMAL (devices with a thermal guard) and the machine's
    /// thermal zones (executors). The governor (POLICY) fits each device's RC thermal model while
    /// top runs and shows where a job of the given profile would be placed now, and why; a
    /// "degraded" mark means some device's telemetry went stale. Caps set by any governor show
    /// in the cap column. With --json, one JSON object per refresh. RUST_LOG=info adds the
    /// governor's log (model refits, stale telemetry) on stderr.
    Top {
        /// Seconds between refreshes.
        #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
        interval: f64,
        /// Exit after this many refreshes.
        #[arg(long, value_name = "N")]
        iterations: Option<u64>,
        /// Placement policy: round-robin, least-loaded, thermal-aware, predictive, sparsity-aware.
        #[arg(long, default_value = "predictive")]
        policy: lightos_governor::Policy,
        /// Power the previewed job adds above idle (W).
        #[arg(long, default_value_t = 1.5, value_name = "WATTS")]
        job_power: f64,
        /// Run time of the previewed job at full speed (s).
        #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
        job_seconds: f64,
        /// Sparsity of the previewed job (0 to 1).
        #[arg(long, default_value_t = 0.0)]
        job_sparsity: f64,
    },
    /// Place a stream of MATMUL jobs across devices with the live PowerGovernor.
    ///
    /// Jobs arrive every INTERVAL milliseconds (every third a 192³ MATMUL profiled as heavy, the
    /// rest 64³); the governor (POLICY) places each from its profile and the devices' telemetry
    /// (QUERY_THERMAL), applies power caps and cooling through POWER_SET before a predicted trip,
    /// and each device runs its queue on its own stream. Prints every placement with its reason,
    /// the thermal trace every 0.5 s, and the per-device counts and the governor's statistics.
    Governor {
        /// Devices to place on.
        #[arg(long, value_delimiter = ',', default_value = "photonic0,cpu0")]
        devices: Vec<String>,
        /// Jobs in the stream.
        #[arg(long, default_value_t = 24)]
        jobs: usize,
        /// Placement policy: round-robin, least-loaded, thermal-aware, predictive, sparsity-aware.
        #[arg(long, default_value = "predictive")]
        policy: lightos_governor::Policy,
        /// Milliseconds between arrivals.
        #[arg(long, default_value_t = 50)]
        interval: u64,
    },
    /// Time one primitive on each chosen device, side by side.
    ///
    /// Creates the operands as kernel buffers through the device API, routes the primitive to each
    /// device in turn (the same code for every device), runs WARMUP untimed and REPEATS timed
    /// launches, and prints p50, p99 and mean latency from launch to completion, the rate, and each
    /// device's p50 as a ratio to the first device's. A progress bar per device shows on a
    /// terminal. Exits 1 naming the device when one is missing or a run fails.
    Bench {
        /// Devices to compare, in order; the first is the baseline of the ratio.
        #[arg(long, value_delimiter = ',', default_value = "cpu0")]
        backend: Vec<String>,
        /// The primitive.
        #[arg(long, value_enum, default_value = "matmul")]
        op: bench::BenchOp,
        /// Matrix side n (operands are n×n f32).
        #[arg(long, default_value_t = 256)]
        size: u64,
        /// Timed runs per device.
        #[arg(long, default_value_t = 20)]
        repeats: usize,
        /// Untimed runs first.
        #[arg(long, default_value_t = 2)]
        warmup: usize,
    },
    /// Serve the core ops on the CPU backend (a userspace backend of /dev/lightos).
    ///
    /// Registers this process with the kernel as backend NAME (ops COPY, ADD, MUL, RELU, GELU,
    /// SOFTMAX, LAYERNORM, MATMUL on f32 and SPIKE_ENCODE, bit-reproducible), then fetches, runs
    /// them on the CPU backend (lightos-cpu, one thread) and completes jobs until killed (its
    /// in-flight jobs then fail with DEVICE_LOST) or MAX_JOBS have run. `lightosd` serves every op
    /// and dtype.
    Executor {
        /// The backend name routing rules and `QUERY_BACKENDS` show.
        #[arg(long, default_value = "cpu0")]
        name: String,
        /// Exit after serving this many jobs.
        #[arg(long, value_name = "N")]
        max_jobs: Option<u64>,
    },
    /// Run a primitive through the kernel on whatever backend it routes to, and check the result.
    ///
    /// `lightos run matmul` multiplies two deterministic f32 matrices in a buffer object, submits the
    /// MATMUL to a queue, waits, and compares the output read through its own mapping with an f64
    /// reference. Needs a registered backend (e.g. `lightos executor &`).
    Run {
        #[command(subcommand)]
        what: RunWhat,
    },
    /// Run the spiking engine end to end on a generated dataset.
    ///
    /// Generates points from Gaussian blobs (one per class), encodes each point's population code
    /// as rate-coded spikes (snnTorch's definition), runs a two-layer LIF network, fits the readout
    /// on the training samples and reports test accuracy, the share of silent neurons per step, and
    /// events per second. By default everything runs in this process, event by event. With
    /// --encode kernel the inputs are encoded by OP_SPIKE_ENCODE jobs (a backend such as
    /// `lightos executor` must run) and arrive through a kernel-produced spike ring; with
    /// --synapses BACKEND the synaptic products run as MATMULs on that kernel backend (e.g.
    /// photonic0), a layer at a time. The encoders are seeded per sample, so every combination
    /// sees the same input spikes.
    SnnDemo {
        /// Classes (2 to 4).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(2..=4))]
        classes: u32,
        /// Hidden LIF neurons.
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
        hidden: u32,
        /// Time steps per sample.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10000))]
        steps: u32,
        /// Seed of the data, weights and spikes.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Where the inputs are encoded: `local` (this process) or `kernel` (OP_SPIKE_ENCODE
        /// into a kernel-produced spike ring).
        #[arg(long, default_value = "local", value_parser = ["local", "kernel"])]
        encode: String,
        /// Where the synaptic weights are multiplied: `local` (event by event here) or the name
        /// of a kernel backend (`photonic0`, `cpu0`, ...).
        #[arg(long, default_value = "local", value_name = "local|BACKEND")]
        synapses: String,
    },
    /// Work with models (ONNX) through the graph engine.
    Model {
        #[command(subcommand)]
        what: ModelWhat,
    },
    /// Show the thermal guard of every device, or follow device events.
    ///
    /// Without --events: per device (QUERY_THERMAL) the guard's state, temperature against its
    /// throttle/shutdown/restart points, laser limit and TEC drive, tick count, missed ticks and
    /// lateness quantiles, trip counts, trip-to-laser-off latency and time in each state.
    /// With --events: prints throttle, throttle-end, shutdown, restart, device-lost and
    /// fault-latched events as the kernel reports them (EVENT_WAIT), one per line, until --count
    /// events or --timeout seconds without one.
    Thermal {
        /// Follow device events instead of printing the guards' state.
        #[arg(long)]
        events: bool,
        /// Stop after this many events.
        #[arg(long, value_name = "N", requires = "events")]
        count: Option<u64>,
        /// Stop after this many seconds without an event (default: wait for ever).
        #[arg(long, value_name = "SECS", requires = "events")]
        timeout: Option<f64>,
        /// Start with the events already in the kernel's log (up to 256), not only new ones.
        #[arg(long, requires = "events")]
        since_start: bool,
    },
}

#[derive(Subcommand, Debug)]
enum ModelWhat {
    /// Print a model's inputs and outputs, op counts, parameters and FLOPs.
    ///
    /// Loads the ONNX file (opsets 9 to 28; an op or attribute the engine does not run is an
    /// error naming the node and the opset), infers every value's shape (symbolic dimensions such
    /// as a batch stay symbolic) and counts the floating-point operations of one run. Does not
    /// open the device. With --json, the summary as one JSON object.
    Inspect {
        /// The model file (.onnx, or .lgraph written by `model optimize`).
        model: PathBuf,
    },
    /// Run the graph passes on a model, print what each changed, and optionally save the result.
    ///
    /// Passes, in order, each on by default: constants (shape arithmetic and small fills become
    /// initializers), identity (Identity and Dropout removed), batchnorm (a BatchNormalization
    /// after a Conv folded into its weights), fuse (a ReLU after a Conv, Gemm or MatMul becomes its
    /// epilogue), dead-code (what no output needs). Shapes are
    /// inferred again after them.
    Optimize {
        /// The model file (.onnx or .lgraph).
        model: PathBuf,
        /// Passes to run: all, none, names (constants,identity,batchnorm,fuse,dead-code), or all but
        /// some (-batchnorm).
        #[arg(long, default_value = "all")]
        passes: String,
        /// Write the optimized graph here in the native format (safetensors, .lgraph).
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Run a model once and write its outputs as .npy files.
    ///
    /// The model is optimized (--passes), compiled into /dev/lightos primitives over a planned
    /// arena, and run: on the kernel (every primitive a job; --device NAME routes every op that
    /// backend runs to it, `auto` leaves routing to the kernel) or, with --device local, by the
    /// CPU backend's kernels in this process. Inputs are .npy files (float32, C order; their
    /// shapes bind symbolic dimensions) or seeded uniform [0, 1) values. Prints each output's
    /// largest values and where it was written.
    Run {
        #[command(flatten)]
        common: ModelRunArgs,
        /// Directory the outputs are written to, one NAME.npy each.
        #[arg(long, default_value = ".", value_name = "DIR")]
        output_dir: PathBuf,
    },
    /// Time a model's runs (after warm-up runs) and print latency quantiles.
    Bench {
        #[command(flatten)]
        common: ModelRunArgs,
        /// Untimed runs first.
        #[arg(long, default_value_t = 1)]
        warmup: u32,
        /// Timed runs.
        #[arg(long, default_value_t = 10)]
        repeat: u32,
    },
}

/// What `model run` and `model bench` take.
#[derive(clap::Args, Debug)]
struct ModelRunArgs {
    /// The model file (.onnx or .lgraph).
    model: PathBuf,
    /// Where it runs: auto (the kernel if the device node exists, else local), local (this
    /// process), governor (the MATMULs on the backend the live PowerGovernor chooses, the rest
    /// where the kernel routes them), or a kernel backend's name (cpu0, photonic0, ...).
    #[arg(
        long = "on",
        default_value = "auto",
        value_name = "auto|local|governor|BACKEND"
    )]
    on: String,
    /// Passes to run (as `model optimize --passes`).
    #[arg(long, default_value = "all")]
    passes: String,
    /// Threads of the in-process CPU backend (--on local).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// With --on local, pack each convolution's filter on every run, as /dev/lightos's CPU
    /// backend does, instead of once at the first run (to compare the two like with like).
    #[arg(long)]
    repack_weights: bool,
    /// An input: NAME=FILE.npy (repeatable); inputs not given are random.
    #[arg(long = "input", value_name = "NAME=FILE.npy")]
    inputs: Vec<String>,
    /// Seed of the random inputs.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Replace the model's float weights by seeded random ones (He-scaled; for networks whose file
    /// carries placeholder weights, such as the model zoo's light versions).
    #[arg(long, value_name = "SEED")]
    random_weights: Option<u64>,
    /// Drop a softmax that ends the network: output the logits.
    #[arg(long)]
    logits: bool,
    /// After the run, where each primitive ran and how long it took (the device's own time
    /// through the kernel), the slowest first (`model run`).
    #[arg(long)]
    profile: bool,
}

#[derive(Subcommand, Debug)]
enum RunWhat {
    /// out[M,N] = a[M,K] · b[K,N], f32.
    Matmul {
        /// Rows of a and out.
        #[arg(long, default_value_t = 64)]
        m: usize,
        /// Columns of a, rows of b.
        #[arg(long, default_value_t = 64)]
        k: usize,
        /// Columns of b and out.
        #[arg(long, default_value_t = 64)]
        n: usize,
        /// How many times to run it (the median latency is reported).
        #[arg(long, default_value_t = 5)]
        repeats: u32,
        /// Route it to this backend (e.g. photonic0, cpu0) instead of the kernel's default choice.
        #[arg(long, value_name = "NAME")]
        backend: Option<String>,
        /// Largest accepted relative error ‖out − ref‖/‖ref‖ against the f64 reference. Default:
        /// the backend's published tolerance (1e-4 digital; 0.2 for photonic backends, derived
        /// from the chip's model: docs/PHYSICS.md).
        #[arg(long, value_name = "REL")]
        tolerance: Option<f64>,
    },
    /// A multilayer perceptron forward pass on one or more backends, against the f64 reference.
    ///
    /// Generates the model from --seed (or loads --model, an LMLP file; --save writes one), runs
    /// a batch through /dev/lightos with every layer's MATMUL routed to each --backend in turn (bias
    /// ADD and ReLU run on whichever backend runs them, e.g. lightosd's cpu0), and prints per
    /// device the relative error against the f64 reference, the latency and the throughput. Exits
    /// 1 if any device fails or exceeds its tolerance (1e-4 for digital backends, 0.3 for
    /// photonic ones, derived from the chip's model: docs/PHYSICS.md).
    Mlp {
        /// Backends to run on, comma-separated (e.g. cpu0,photonic0).
        #[arg(long, default_value = "cpu0", value_delimiter = ',')]
        backend: Vec<String>,
        /// Layer sizes, input first, comma-separated.
        #[arg(long, default_value = "256,512,512,10", value_delimiter = ',')]
        layers: Vec<usize>,
        /// Samples per forward pass.
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=65536))]
        batch: u64,
        /// Seed of the generated weights and inputs.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Load the model from this LMLP file instead of generating it.
        #[arg(long, value_name = "FILE")]
        model: Option<std::path::PathBuf>,
        /// Write the model used to this LMLP file.
        #[arg(long, value_name = "FILE")]
        save: Option<std::path::PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The runtime's logs (the governor's decisions and their reasons, at info) on stderr, filtered
    // by RUST_LOG (e.g. RUST_LOG=lightos_governor=info); errors only by default.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let result: Result<(), Box<dyn std::error::Error>> = match cli.command {
        Command::Info => info::run(&cli.device, cli.json).map_err(Into::into),
        Command::Devices => devices::run(&cli.device, cli.json),
        Command::Governor {
            devices,
            jobs,
            policy,
            interval,
        } => govern::run(
            &cli.device,
            &govern::GovernArgs {
                devices,
                jobs,
                policy,
                interval: Duration::from_millis(interval),
            },
            cli.json,
        ),
        Command::Bench {
            backend,
            op,
            size,
            repeats,
            warmup,
        } => bench::run(
            &cli.device,
            &bench::BenchArgs {
                devices: backend,
                op,
                size,
                repeats,
                warmup,
            },
            cli.json,
        ),
        Command::Top {
            interval,
            iterations,
            policy,
            job_power,
            job_seconds,
            job_sparsity,
        } => match Duration::try_from_secs_f64(interval) {
            Ok(interval) if !interval.is_zero() => top::run(
                &cli.device,
                &top::TopArgs {
                    interval,
                    iterations,
                    policy,
                    job: lightos_governor::JobProfile {
                        sparsity: job_sparsity,
                        ..lightos_governor::JobProfile::dense(job_power, job_seconds)
                    },
                },
                cli.json,
            ),
            _ => Err("--interval must be a positive number of seconds".into()),
        },
        Command::Executor { name, max_jobs } => executor::run(&cli.device, &name, max_jobs),
        Command::Model {
            what: ModelWhat::Inspect { model },
        } => model::inspect(&model, cli.json),
        Command::Model {
            what:
                ModelWhat::Optimize {
                    model,
                    passes,
                    output,
                },
        } => model::optimize(&model, &passes, output.as_deref(), cli.json),
        Command::Model {
            what: ModelWhat::Run { common, output_dir },
        } => model_run::run(
            &common.model,
            &run_options(&cli.device, &common, cli.json),
            &output_dir,
        ),
        Command::Model {
            what:
                ModelWhat::Bench {
                    common,
                    warmup,
                    repeat,
                },
        } => model_run::bench(
            &common.model,
            &run_options(&cli.device, &common, cli.json),
            warmup,
            repeat,
        ),
        Command::Run {
            what:
                RunWhat::Matmul {
                    m,
                    k,
                    n,
                    repeats,
                    backend,
                    tolerance,
                },
        } => run::matmul(
            &cli.device,
            run::MatmulArgs {
                m,
                k,
                n,
                repeats,
                tolerance: tolerance.unwrap_or_else(|| {
                    lightos_runtime::tolerance::matmul(backend.as_deref().unwrap_or(""))
                }),
                backend,
            },
            cli.json,
        ),
        Command::Run {
            what:
                RunWhat::Mlp {
                    backend,
                    layers,
                    batch,
                    seed,
                    model,
                    save,
                },
        } => run_mlp::run(
            &cli.device,
            run_mlp::MlpArgs {
                devices: backend,
                layers,
                batch: batch as usize,
                seed,
                model,
                save,
            },
            cli.json,
        ),
        Command::SnnDemo {
            classes,
            hidden,
            steps,
            seed,
            encode,
            synapses,
        } => snn::run(
            &cli.device,
            &lightos_snn::blobs::Experiment {
                classes: classes as usize,
                hidden: hidden as usize,
                steps,
                seed,
                ..Default::default()
            },
            &snn::Placement {
                kernel_encoder: encode == "kernel",
                synapses: (synapses != "local").then_some(synapses),
            },
            cli.json,
        ),
        Command::Thermal {
            events,
            count,
            timeout,
            since_start,
        } => match timeout.map(Duration::try_from_secs_f64).transpose() {
            Err(_) => Err("--timeout must be a non-negative number of seconds".into()),
            Ok(timeout) => thermal::run(
                &cli.device,
                &thermal::ThermalArgs {
                    events,
                    count,
                    timeout,
                    since_start,
                },
                cli.json,
            )
            .map_err(Into::into),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("lightos: {err}");
            if let Some(hint) = err
                .downcast_ref::<lightos_runtime::Error>()
                .and_then(|e| e.hint())
            {
                eprintln!("lightos: hint: {hint}");
            }
            ExitCode::FAILURE
        }
    }
}

/// The options of `model run` and `model bench`.
fn run_options<'a>(
    node: &'a std::path::Path,
    a: &'a ModelRunArgs,
    json: bool,
) -> model_run::Options<'a> {
    model_run::Options {
        node,
        device: &a.on,
        passes: &a.passes,
        threads: a.threads,
        repack_weights: a.repack_weights,
        inputs: &a.inputs,
        seed: a.seed,
        random_weights: a.random_weights,
        logits: a.logits,
        profile: a.profile,
        json,
    }
}
