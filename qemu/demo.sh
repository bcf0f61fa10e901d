#!/bin/sh
# The in-guest part of `make demo` (booted with two emulated photonic NPUs, photonic0 and photonic1):
# a real network (the ONNX model zoo's SqueezeNet 1.1, light version) compiled by the graph engine and
# run through /dev/lightos on cpu0 and on photonic0 (its convolutions as MATMULs there), an MLP on cpu0
# and photonic0, a MATMUL workload on photonic0 through /dev/lightos, the thermal
# guard's trace while it runs, a MATMUL on each NPU at once, a spiking network whose inputs come
# through a kernel spike ring and whose synapses run on photonic0, and the PowerGovernor placing
# work across both NPUs and the CPU, and lightos-agent serving SqueezeNet over HTTP with its metrics.
set -e
# The serial console is a terminal, but what the demo prints is read as a log: no progress bars.
export TERM=dumb
lightos info
echo
echo "== SqueezeNet (the ONNX model zoo's light version, from the onnx wheel: real layer shapes; its file"
echo "   fills every weight with 0.02, so the runs below use seeded random weights, --random-weights 1)"
echo "   as the graph engine sees it, then optimized, compiled into /dev/lightos primitives and run:"
lightos model inspect light_squeezenet.onnx | grep -vE '^  (Concat|Relu|Conv|Dropout|MaxPool|Softmax|GlobalAveragePool|Reshape|AveragePool|ConstantOfShape) '
lightosd --name cpu0 2> /tmp/lightosd.log &
for i in $(seq 40); do grep -q 'backend cpu0' /sys/kernel/debug/lightos/stats && break; sleep 0.25; done
echo
echo "-- on cpu0 (lightosd), every primitive a kernel job (26 ReLUs fused into their convolutions):"
lightos model run light_squeezenet.onnx --on cpu0 --random-weights 1 --output-dir /tmp/squeezenet-cpu0
echo
echo "-- on photonic0 (it runs only MATMUL: each convolution becomes column COPYs on cpu0 and a MATMUL on"
echo "   the emulated NPU; bias ADDs, ReLUs and pools on cpu0), the same input (the analog error moves the"
echo "   probabilities a little; the largest classes should mostly agree with cpu0's):"
lightos model run light_squeezenet.onnx --on photonic0 --random-weights 1 --output-dir /tmp/squeezenet-photonic0
echo "   jobs per backend now (lightos devices):"
lightos devices | awk '/^  [a-z]/ {name = $1} /^    load/ && (name == "cpu0" || name == "photonic0") {sub(/^ *load */, ""); print "   " name ": " $0}'
echo
echo "== an MLP (256-512-512-10, batch 64) on cpu0 (lightosd: the CPU backend) and on photonic0"
echo "   (its MATMULs on the emulated NPU; bias ADD and ReLU on cpu0), against the f64 reference"
lightos run mlp --backend cpu0,photonic0
echo
echo "== the CUDA backend (lightosd --backend cuda): this guest has no GPU, so it says so and exits 69;"
echo "   with one, 'lightos run mlp --backend cuda0,...' runs the same model there"
lightosd --backend cuda 2>&1 || echo "   (exit status $?)"
echo
echo "== MATMUL on photonic0 (the emulated photonic NPU, 64x64 mesh, tiled by the driver)"
lightos run matmul --backend photonic0 --m 128 --k 192 --n 96 --repeats 3
echo
echo "== photonic0's last calibration, as its emulator reports it on its control line (/dev/ttyS1): the"
echo "   chip learns every heater's offset and crosstalk from fringes at its detectors (docs/PHYSICS.md);"
echo "   device time it took, fringes measured, predicted offset error, RMS coupler split error (not"
echo "   correctable by phases), and the error of the programmed weights it measured with probe vectors"
stty -F /dev/ttyS1 raw -echo 115200 min 0 time 50
exec 3<>/dev/ttyS1
echo status >&3
read -r status <&3 || true
exec 3>&-
echo "$status" | tr ' ' '\n' | grep -E '^(temp_c|calibrated_c|calibration_s|fringes|offset_error_rad|coupler_split_rad|residual)=' | sed 's/^/   /'
echo
echo "== two NPUs in this guest, one emulator process each (lightos devices: the kernel's backends,"
echo "   then what this process could run locally)"
lightos devices
echo
echo "== a MATMUL on photonic0 and one on photonic1, at the same time"
lightos run matmul --backend photonic0 --m 96 --k 128 --n 64 --repeats 2 > /tmp/mm0 2>&1 &
mm0=$!
lightos run matmul --backend photonic1 --m 96 --k 128 --n 64 --repeats 2 > /tmp/mm1 2>&1 &
mm1=$!
wait $mm0; wait $mm1
echo "-- photonic0:"; cat /tmp/mm0
echo "-- photonic1:"; cat /tmp/mm1
echo
echo "== thermal trace while 12 more MATMULs run (guard debugfs, every 0.25 s)"
G=/sys/kernel/debug/lightos-photonic0/guard
( for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
      lightos run matmul --backend photonic0 --m 256 --k 128 --n 128 --repeats 1 >/dev/null
  done ) &
work=$!
t=0
while kill -0 $work 2>/dev/null; do
    awk -v t="$t" '$1=="state"{s=$2} $1=="temp_mc"{c=$2} $1=="laser_limit_mw"{l=$2} $1=="tec_permille"{e=$2}
        END {printf "  t=%5.2fs  %6.2f C  state %-8s laser limit %4d mW  TEC %4d/1000\n", t, c/1000, s, l, e}' "$G"
    sleep 0.25; t=$(awk -v t="$t" 'BEGIN{print t+0.25}')
done
wait $work
echo
echo "== a spiking network: inputs encoded by SPIKE_ENCODE jobs (on a CPU executor) into a kernel"
echo "   spike ring, synaptic products as MATMULs on photonic0 (300 samples; local run for comparison)"
lightos executor --name snn0 --max-jobs 300 > /dev/null &
for i in $(seq 40); do grep -q 'backend snn0' /sys/kernel/debug/lightos/stats && break; sleep 0.25; done
lightos snn-demo --encode kernel --synapses photonic0
lightos snn-demo | grep -E 'synapses|accuracy|events '
echo
echo "== the guards as userspace sees them (lightos thermal: QUERY_THERMAL, one per NPU)"
lightos thermal
echo
echo "== the PowerGovernor placing a stream of 24 MATMULs across photonic0, photonic1 and cpu0 (lightos governor:"
echo "   each placement with its reason from the devices' telemetry and the fitted thermal model)"
lightos governor --devices photonic0,photonic1,cpu0 --jobs 24 --interval 40
echo
echo "== the PowerGovernor's view (lightos top: telemetry, each device's thermal model, where a"
echo "   1.5 W, 1 s job would go now and why; see docs/PERFORMANCE.md for the policies compared)"
lightos top --iterations 3 --interval 0.3 | tail -n 5
echo
echo "== device counters (debugfs)"
grep -E '^(completion_irqs|thermal_irqs|resets|lost|device) ' "$G"
echo
echo "== lightos-agent: SqueezeNet served over the Open Inference Protocol (KServe v2) on cpu0, a request"
echo "   over HTTP (busybox wget; tritonclient and curl speak the same), then the metrics it exports"
mkdir -p /tmp/agent/models/squeezenet/1
cp light_squeezenet.onnx /tmp/agent/models/squeezenet/1/model.onnx
printf 'device = "cpu0"\nmax_batch = 1\n' > /tmp/agent/models/squeezenet/config.toml
printf '[models]\nrepository = "/tmp/agent/models"\n' > /tmp/agent/agent.toml
lightos-agent --config /tmp/agent/agent.toml 2> /tmp/agent/agent.log &
agent=$!
for i in $(seq 120); do wget -q -O /dev/null http://127.0.0.1:8000/v2/health/ready 2>/dev/null && break; sleep 0.5; done
sed 's/^/   /' /tmp/agent/agent.log
echo "-- GET /v2/models/squeezenet:"
wget -q -O - http://127.0.0.1:8000/v2/models/squeezenet | sed 's/^/   /'; echo
awk 'BEGIN { printf "{\"id\":\"demo-1\",\"inputs\":[{\"name\":\"data_0\",\"shape\":[1,3,224,224],\"datatype\":\"FP32\",\"data\":[";
             for (i = 0; i < 150528; i++) printf "%s%.3f", (i ? "," : ""), (i % 97) / 97; print "]}]}" }' > /tmp/agent/request.json
echo "-- POST /v2/models/squeezenet/infer (a 224x224 image as JSON, $(wc -c < /tmp/agent/request.json) bytes); the reply, cut:"
wget -q -O - --header 'Content-Type: application/json' --post-file /tmp/agent/request.json \
    http://127.0.0.1:8000/v2/models/squeezenet/infer | cut -c 1-240 | sed 's/^/   /'; echo
echo "-- GET /metrics (the lines a dashboard would chart):"
wget -q -O - http://127.0.0.1:8000/metrics | grep -E '^lightos_(inference_requests_total|inference_(request|compute|queue)_duration_seconds_(sum|count)|device_(temperature_celsius|power_watts|jobs_total|energy_joules_total))' | sed 's/^/   /'
kill -TERM $agent; wait $agent 2>/dev/null || true
echo "   (its live dashboard, at / : make demo loads it in Chromium next, from a second boot)"
