// Network microbenchmarks at the batched actor-learner's shapes (a worker steps k envs):
//  - BM_Forward_<arch>_<isa>/<k>: the acting forward pass of k observations, k = 1..64 (one
//    time step). Weight packing (Network::prepare, once per rollout) is outside the timed loop.
//  - BM_FwdBwd_<arch>_<isa>/<n>: prepare + forward + A3C loss + backward over a rollout of
//    n = k x t_max observations, n = 5..1280 (the operation vs_pytorch.py compares).
//  - a3c_lstm (the recurrent agent, issue 19): BM_Forward carries an LSTM state (k sequences);
//    BM_FwdBwd's rollout of n slots is t_max = 5 steps of k = n / 5 sequences, backpropagated
//    through time; BM_Layer_a3c_lstm_lstm_{fwd,bwd}_avx2 is the LSTM layer alone (one step of
//    k sequences forward; the whole rollout's BPTT and weight gradients backward).
//  - BM_Layer_<arch>_<layer>_{fwd,bwd}_avx2/<batch>: every conv and the hidden FC layer alone
//    (the later conv layers as the network runs them: im2col GEMMs over chunks of images),
//    same code paths as the network; forward layers at the acting batches, backward layers at
//    the rollout batches. The scalar reference kernels run only at /1 and /5.
// Counters: GFLOP/s, peak_frac (the rate over one core's fp32 FMA peak, measured at start-up
// with bench/peak.cc's register-only loop and printed), us per call; GB/s of weights for the
// FC layer at the batches where it is bound by memory bandwidth, not by FMAs (fwd 1, bwd 5).
// Before timing, the AVX2 network is checked against the scalar reference kernels (b 5, 16).
// Machine: AMD EPYC Zen 4, 2 vCPUs, one core used. Command, from the build dir:
//   bench/bm_network --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//                    --benchmark_filter='avx2|Forward_a3c_scalar'  (add --benchmark_format=json)
// The nature net's largest rollouts dominate the run time; add _a3c_ to the filter for the
// default net only (--benchmark_filter='_a3c_.*avx2|Forward_a3c_scalar').
#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/aligned.h"
#include "common/cpu.h"
#include "common/rng.h"
#include "nn/conv2d.h"
#include "nn/linear.h"
#include "nn/lstm.h"
#include "nn/network.h"
#include "peak.h"

namespace a3c::bench {
namespace {

double g_peak_gflops = 0;  // one core, measured at start-up

// The batched actor-learner's shapes: an acting step forwards k observations (k envs); a
// rollout's forward + backward covers k x t_max of them (k = 1..64, t_max = 5 or 20).
const std::vector<Index> kActBatches = {1, 4, 8, 16, 32, 64};
const std::vector<Index> kRolloutBatches = {5, 40, 80, 160, 320, 640, 1280};
// The scalar reference kernels are timed at the unbatched shapes only (rule 3: a yardstick).
const std::vector<Index> kScalarActBatches = {1};
const std::vector<Index> kScalarRolloutBatches = {5};

double measure_peak() {
  const std::int64_t iters = 1 << 22;
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(fma_peak_loop(iters));
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, kFmaPeakFlopsPerIter * double(iters) / s * 1e-9);
  }
  return best;
}

struct Fixture {
  Network net;
  AlignedBuffer<float> params, grad;
  AlignedBuffer<unsigned char> obs;
  Workspace ws;  // capacity = batch: every slot of the batch has its own activations
  std::vector<int> actions;
  std::vector<float> returns;
  // Recurrent archs: a state per slot (inputs of the acting step) and the rollout's links.
  AlignedBuffer<float> h, c;
  std::vector<unsigned char> carry;
  Fixture(const std::string& arch, Index batch)
      : net(make_arch(arch, {4, 84, 84}, 6, {})),
        params(net.num_params()),
        grad(net.num_params()),
        obs(batch * net.spec().obs_size()),
        ws(net.spec(), batch),
        actions(batch),
        returns(batch),
        h(batch * net.spec().state_size()),
        c(batch * net.spec().state_size()),
        carry(batch) {
    net.init_params(params.data(), 1);
    Rng rng(7);
    for (std::size_t i = 0; i < obs.size(); ++i) obs[i] = static_cast<unsigned char>(rng.next_u64() & 0xff);
    for (Index i = 0; i < batch; ++i) {
      actions[i] = static_cast<int>(i % 6);
      returns[i] = 0.5f * static_cast<float>(i) - 1.0f;
    }
  }
  // Sequences of a rollout of `batch` slots: t_max = 5 steps each (recurrent archs).
  static Index sequences(Index batch) { return batch % 5 == 0 ? batch / 5 : batch; }
  // Forward of `batch` slots: one step (feed-forward), or the recurrent rollout's steps, each
  // taking the previous step's state as the actor-learner does.
  void forward(Index batch) {
    net.prepare(params.data(), ws);
    if (!net.spec().recurrent()) {
      net.forward(params.data(), obs.data(), batch, ws, 0);
      return;
    }
    const Index k = sequences(batch), H = net.spec().state_size();
    for (Index s = 0; s < batch; s += k) {
      const float* hin = s == 0 ? h.data() : ws.lstm_h.data() + (s - k) * H;
      const float* cin = s == 0 ? c.data() : ws.lstm_c.data() + (s - k) * H;
      net.forward(params.data(), obs.data() + s * net.spec().obs_size(), k, ws, s, hin, cin);
      for (Index e = 0; e < k; ++e) carry[s + e] = s > 0;
    }
  }
  // No zeroing of grad: the backward writes every element (Network::backward), as in training.
  void forward_backward(Index batch) {
    forward(batch);
    const LossCoefs coefs{0.01f, 0.5f, false};  // A3CConfig's entropy_beta, value_coef, sum
    net.loss_and_backward(params.data(), ws, batch, actions.data(), returns.data(), coefs, grad.data(),
                          sequences(batch), net.spec().recurrent() ? carry.data() : nullptr);
  }
};

// Per slot: the LSTM's backward GEMMs (dW_ih, dW_hh, dx, dh_in), each 2 x 4H x (in or H).
double lstm_backward_flops(const LstmSpec& l) {
  return 2.0 * 4 * l.hidden * (2.0 * l.in + 2.0 * l.hidden);
}

// FLOPs of the backward pass of a rollout of `batch` steps (weight and input gradients;
// the first conv layer needs no input gradient).
double backward_flops(const ArchSpec& a, Index batch) {
  double f = 0;
  for (size_t l = 0; l < a.convs.size(); ++l) {
    const auto& c = a.convs[l];
    f += 2.0 * c.p() * c.k() * c.cout * (l == 0 ? 1 : 2);
  }
  for (const auto& h : a.hidden) f += 4.0 * h.in * h.out;
  f += 4.0 * a.heads.in * a.heads.out;
  if (a.recurrent()) f += lstm_backward_flops(a.lstm);
  return f * batch;
}

void set_rates(benchmark::State& state, double flops_per_iter) {
  state.counters["GFLOP/s"] = benchmark::Counter(flops_per_iter * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["us"] = benchmark::Counter(1e-6, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  // Fraction of one core's peak (computed from the rate in a custom reporter-free way:
  // the same rate divided by the measured peak).
  state.counters["peak_frac"] = benchmark::Counter(flops_per_iter * 1e-9 / g_peak_gflops, benchmark::Counter::kIsIterationInvariantRate);
}

// One acting step of k envs. The conv weights are packed once per rollout
// (ActorLearner::begin_rollout), so prepare stays outside the loop; BM_FwdBwd includes it.
void BM_Forward(benchmark::State& state, std::string arch, std::string isa) {
  set_kernel_isa(isa);
  const Index k = state.range(0);
  Fixture fx(arch, k);
  fx.net.prepare(fx.params.data(), fx.ws);
  const bool rec = fx.net.spec().recurrent();
  for (auto _ : state) {
    fx.net.forward(fx.params.data(), fx.obs.data(), k, fx.ws, 0, rec ? fx.h.data() : nullptr,
                   rec ? fx.c.data() : nullptr);
    benchmark::DoNotOptimize(fx.ws.head.data());
    benchmark::ClobberMemory();
  }
  set_rates(state, fx.net.spec().flops_forward() * k);
}

void BM_FwdBwd(benchmark::State& state, std::string arch, std::string isa) {
  set_kernel_isa(isa);
  const Index b = state.range(0);
  Fixture fx(arch, b);
  for (auto _ : state) {
    fx.forward_backward(b);
    benchmark::DoNotOptimize(fx.grad.data());
    benchmark::ClobberMemory();
  }
  set_rates(state, fx.net.spec().flops_forward() * b + backward_flops(fx.net.spec(), b));
}

// --- single layers (same code paths as the network, isolated) ------------------------------

void BM_ConvFwd(benchmark::State& state, std::string arch, int layer) {
  set_kernel_isa("avx2");
  const Index b = state.range(0);
  Fixture fx(arch, b);
  fx.forward(b);  // fills every activation and the packed weights
  const ConvSpec& c = fx.net.spec().convs[layer];
  const Index chunk = fx.ws.conv_chunk, PK = c.p() * c.k(), isz = c.hin * c.win * c.cin;
  AlignedBuffer<float> out(chunk * c.p() * c.cout);
  for (auto _ : state) {
    if (layer > 0) {  // as Network::forward: chunks of images, one GEMM each
      for (Index i0 = 0; i0 < b; i0 += chunk) {
        const Index m = std::min(chunk, b - i0);
        for (Index i = 0; i < m; ++i)
          im2col_nhwc(fx.ws.col.data() + i * PK, fx.ws.conv_out[layer - 1].data() + (i0 + i) * isz, c);
        conv2d_forward(out.data(), fx.ws.col.data(), fx.ws.wk[layer].data(), fx.params.data() + c.b_off, c,
                       m * c.p());
      }
    }
    for (Index i = 0; layer == 0 && i < b; ++i) {
      if (c.s2d) {
        space_to_depth_u8(fx.ws.img.data(), fx.ws.obs_u8.data() + i * fx.net.spec().obs_size(), c);
        conv2d_forward_s2d(out.data(), fx.ws.s2d_tmp.data(), fx.ws.img.data(), fx.ws.wk[layer].data(),
                           fx.params.data() + c.b_off, c);
        continue;
      }
      im2col_nchw_u8(fx.ws.col.data(), fx.ws.img.data(), fx.ws.obs_u8.data() + i * fx.net.spec().obs_size(), c);
      conv2d_forward(out.data(), fx.ws.col.data(), fx.ws.wk[layer].data(), fx.params.data() + c.b_off, c);
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_rates(state, 2.0 * c.p() * c.k() * c.cout * b);
}

void BM_ConvBwd(benchmark::State& state, std::string arch, int layer) {
  set_kernel_isa("avx2");
  const Index b = state.range(0);
  Fixture fx(arch, b);
  fx.forward_backward(b);
  const ConvSpec& c = fx.net.spec().convs[layer];
  const Index chunk = fx.ws.conv_chunk, PK = c.p() * c.k(), isz = c.hin * c.win * c.cin;
  AlignedBuffer<float> dinp(chunk * isz);
  for (auto _ : state) {
    if (layer > 0) {  // as Network::backward: chunks of images, one GEMM each for dW and dcol
      for (Index i0 = 0; i0 < b; i0 += chunk) {
        const Index m = std::min(chunk, b - i0);
        for (Index i = 0; i < m; ++i)
          im2col_nhwc(fx.ws.col.data() + i * PK, fx.ws.conv_out[layer - 1].data() + (i0 + i) * isz, c);
        conv2d_backward(fx.ws.dwk[layer].data(), fx.grad.data() + c.b_off, fx.ws.dcol.data(),
                        fx.ws.dconv[layer].data(), fx.ws.col.data(), fx.ws.wt[layer].data(), c, m * c.p());
        dinp.zero();
        for (Index i = 0; i < m; ++i) col2im_nhwc_add(dinp.data() + i * isz, fx.ws.dcol.data() + i * PK, c);
      }
    }
    for (Index i = 0; layer == 0 && i < b; ++i) {
      if (c.s2d) {
        space_to_depth_u8(fx.ws.img.data(), fx.ws.obs_u8.data() + i * fx.net.spec().obs_size(), c);
        conv2d_backward_s2d(fx.ws.dwk[layer].data(), fx.grad.data() + c.b_off, fx.ws.s2d_tmp.data(),
                            fx.ws.dconv[layer].data(), fx.ws.img.data(), c);
      } else {
        im2col_nchw_u8(fx.ws.col.data(), fx.ws.img.data(), fx.ws.obs_u8.data() + i * fx.net.spec().obs_size(), c);
        conv2d_backward(fx.ws.dwk[layer].data(), fx.grad.data() + c.b_off, nullptr, fx.ws.dconv[layer].data(),
                        fx.ws.col.data(), nullptr, c);
      }
    }
    benchmark::DoNotOptimize(fx.ws.dwk[layer].data());
    benchmark::ClobberMemory();
  }
  set_rates(state, 2.0 * c.p() * c.k() * c.cout * b * (layer == 0 ? 1 : 2));
}

// The FC weights (2.6 MB a3c, 6.4 MB nature) come from L3 on every call. Below this many FLOPs
// per byte of weight traffic (one core's FMA peak over its L3 bandwidth is ~1.5 on the bench
// machine) the layer is bound by memory, not FMAs: GB/s is its figure of merit and is reported
// there only (forward: b/2 FLOP/byte, so batch 1; backward: b/4, so batch 5).
constexpr double kMemoryBoundIntensity = 2.0;

void BM_FcFwd(benchmark::State& state, std::string arch) {
  set_kernel_isa("avx2");
  const Index b = state.range(0);
  Fixture fx(arch, b);
  fx.forward(b);
  const LinearSpec& h = fx.net.spec().hidden[0];
  for (auto _ : state) {
    linear_forward(fx.ws.hid[0].data(), fx.ws.flat.data(), fx.params.data() + h.w_off,
                   fx.params.data() + h.b_off, b, h, true);
    benchmark::DoNotOptimize(fx.ws.hid[0].data());
    benchmark::ClobberMemory();
  }
  set_rates(state, 2.0 * h.in * h.out * b);
  if (2.0 * b / 4.0 < kMemoryBoundIntensity)
    state.counters["GB/s"] = benchmark::Counter(4.0 * h.in * h.out * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_FcBwd(benchmark::State& state, std::string arch) {
  set_kernel_isa("avx2");
  const Index b = state.range(0);
  Fixture fx(arch, b);
  fx.forward_backward(b);
  const LinearSpec& h = fx.net.spec().hidden[0];
  for (auto _ : state) {
    linear_backward(fx.grad.data() + h.w_off, fx.grad.data() + h.b_off, fx.ws.dflat.data(), fx.ws.dhid[0].data(),
                    fx.ws.flat.data(), fx.params.data() + h.w_off, b, h);
    benchmark::DoNotOptimize(fx.grad.data());
    benchmark::ClobberMemory();
  }
  set_rates(state, 4.0 * h.in * h.out * b);
  // weights read twice (dW and dx GEMMs) + gradient read and written
  if (4.0 * b / 16.0 < kMemoryBoundIntensity)
    state.counters["GB/s"] = benchmark::Counter(16.0 * h.in * h.out * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// The LSTM layer alone (recurrent archs): one acting step of k sequences...
void BM_LstmFwd(benchmark::State& state, std::string arch) {
  set_kernel_isa("avx2");
  const Index k = state.range(0);
  Fixture fx(arch, k);
  fx.forward(k);
  const LstmSpec& l = fx.net.spec().lstm;
  const Index H = l.hidden;
  for (auto _ : state) {
    lstm_forward(l, fx.params.data(), fx.ws.hid.back().data(), fx.h.data(), fx.c.data(), k, fx.ws.lstm_gates.data(),
                 fx.ws.lstm_c.data(), fx.ws.lstm_tc.data(), fx.ws.lstm_h.data());
    benchmark::DoNotOptimize(fx.ws.lstm_h.data());
    benchmark::ClobberMemory();
  }
  set_rates(state, 2.0 * 4 * H * (l.in + H) * k);
}

// ...and its backward over a rollout of n slots (t_max 5 steps of n / 5 sequences): BPTT,
// then the weight gradients over all steps.
void BM_LstmBwd(benchmark::State& state, std::string arch) {
  set_kernel_isa("avx2");
  const Index b = state.range(0);
  Fixture fx(arch, b);
  fx.forward_backward(b);
  const Index H = fx.net.spec().lstm.hidden;
  AlignedBuffer<float> dh(b * H);
  std::memcpy(dh.data(), fx.ws.lstm_dh.data(), b * H * sizeof(float));
  for (auto _ : state) {
    std::memcpy(fx.ws.lstm_dh.data(), dh.data(), b * H * sizeof(float));  // lstm_backward adds into it
    fx.net.lstm_backward(fx.params.data(), fx.ws, b, fx.grad.data(), Fixture::sequences(b), fx.carry.data());
    benchmark::DoNotOptimize(fx.grad.data());
    benchmark::ClobberMemory();
  }
  set_rates(state, lstm_backward_flops(fx.net.spec().lstm) * b);
}

// Rule 3: the vectorized network must agree with the scalar reference before it is timed.
bool check_isa_agreement(const std::string& arch, Index b) {
  Fixture s(arch, b), v(arch, b);
  // Poisoned gradients: an element the backward fails to write stays NaN and fails the check.
  for (Index i = 0; i < s.net.num_params(); ++i) s.grad[i] = v.grad[i] = NAN;
  set_kernel_isa("scalar");
  s.forward_backward(b);
  set_kernel_isa("avx2");
  v.forward_backward(b);
  double max_out = 0, max_grad = 0, scale = 0;
  for (Index i = 0; i < b * (s.net.spec().num_actions + 1); ++i)
    max_out = std::max(max_out, double(std::fabs(s.ws.head[i] - v.ws.head[i])));
  bool finite = true;
  for (Index i = 0; i < s.net.num_params(); ++i) {
    finite = finite && std::isfinite(s.grad[i]) && std::isfinite(v.grad[i]);
    max_grad = std::max(max_grad, double(std::fabs(s.grad[i] - v.grad[i])));
    scale = std::max(scale, double(std::fabs(s.grad[i])));
  }
  const bool ok = finite && max_out < 1e-4 && max_grad < 1e-4 * std::max(1.0, scale);
  std::printf("check %-6s b=%-3lld avx2 vs scalar: max |d out| %.2e, max |d grad| %.2e (max |grad| %.2e) %s\n",
              arch.c_str(), static_cast<long long>(b), max_out, max_grad, scale, ok ? "OK" : "NOT OK");
  return ok;
}

// Registers `fn` as `name` once per batch (`name/<batch>`, the batch in state.range(0)).
template <class Fn, class... Args>
void register_batches(const std::string& name, const std::vector<Index>& batches, Fn fn, const Args&... args) {
  auto* b = benchmark::RegisterBenchmark(name.c_str(), fn, args...);
  for (Index n : batches) b->Arg(n);
}

}  // namespace
}  // namespace a3c::bench

int main(int argc, char** argv) {
  using namespace a3c;
  using namespace a3c::bench;
  if (!cpu_features().avx2_fma) {
    std::fprintf(stderr, "bm_network needs a CPU with AVX2+FMA (the scalar kernels are only the reference)\n");
    return 1;
  }
  enable_flush_denormals();
  bool ok = true;
  // b=16 also reaches the FC GEMMs' full 6-row blocks (dx) and the 5-row blocks plus a lone
  // last row (forward), which b=5 does not.
  for (const char* arch : {"a3c", "nature", "a3c_lstm"})
    for (Index b : {5, 16}) ok = check_isa_agreement(arch, b) && ok;
  if (!ok) return 1;
  g_peak_gflops = measure_peak();
  std::printf("fp32 FMA peak of one core (register-only AVX2 FMA loop): %.1f GFLOP/s\n", g_peak_gflops);

  for (const std::string arch : {"a3c", "nature", "a3c_lstm"}) {
    if (make_arch(arch, {4, 84, 84}, 6, {}).recurrent()) {
      register_batches("BM_Layer_" + arch + "_lstm_fwd_avx2", kActBatches, BM_LstmFwd, arch);
      register_batches("BM_Layer_" + arch + "_lstm_bwd_avx2", kRolloutBatches, BM_LstmBwd, arch);
    }
    for (const std::string isa : {"avx2", "scalar"}) {
      const bool simd = isa == "avx2";
      register_batches("BM_Forward_" + arch + "_" + isa, simd ? kActBatches : kScalarActBatches, BM_Forward, arch, isa);
      register_batches("BM_FwdBwd_" + arch + "_" + isa, simd ? kRolloutBatches : kScalarRolloutBatches, BM_FwdBwd,
                       arch, isa);
    }
    if (make_arch(arch, {4, 84, 84}, 6, {}).recurrent()) continue;  // its conv and fc layers are a3c's
    const std::string layer = "BM_Layer_" + arch + "_";
    const int num_convs = static_cast<int>(make_arch(arch, {4, 84, 84}, 6, {}).convs.size());
    for (int l = 0; l < num_convs; ++l) {
      const std::string conv = layer + "conv" + std::to_string(l + 1);
      register_batches(conv + "_fwd_avx2", kActBatches, BM_ConvFwd, arch, l);
      register_batches(conv + "_bwd_avx2", kRolloutBatches, BM_ConvBwd, arch, l);
    }
    register_batches(layer + "fc_fwd_avx2", kActBatches, BM_FcFwd, arch);
    register_batches(layer + "fc_bwd_avx2", kRolloutBatches, BM_FcBwd, arch);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
