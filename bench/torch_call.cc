// torch_call.cc - the in-process reference of bench/torch.sh: the libtorch call berth-serve's
// TorchScript backend makes, without HTTP or JSON, on one thread (as one REST worker).
//
//   torch_call MODEL.pt BATCH FEATURES SECONDS MODE
//
// MODE: frozen (torch::jit::freeze, what berth-serve does), plain (eval only) or optimized
// (torch::jit::optimize_for_inference). Each call makes a tensor from a buffer (from_blob, as
// berth-serve does), runs forward() under c10::InferenceMode and copies the output out. Prints
// one line: BENCH_CALL {"calls_per_s": ..., "us_per_call": ..., "cpu_us_per_call": ..., "calls":
// ...} (cpu_us_per_call: this thread's CPU time, which other work on a shared machine disturbs
// less).
#include <ATen/Parallel.h>
#include <torch/script.h>

#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: torch_call MODEL BATCH FEATURES SECONDS frozen|plain|optimized\n");
        return 2;
    }
    at::set_num_threads(1);
    at::set_num_interop_threads(1);
    long batch = atol(argv[2]), nf = atol(argv[3]);
    double seconds = atof(argv[4]);
    std::string mode = argv[5];
    c10::InferenceMode guard;
    torch::jit::Module m = torch::jit::load(argv[1], torch::kCPU);
    m.eval();
    if (mode == "frozen")
        m = torch::jit::freeze(m);
    else if (mode == "optimized")
        m = torch::jit::optimize_for_inference(m);
    std::vector<float> in((size_t)(batch * nf)), out;
    for (size_t i = 0; i < in.size(); i++)
        in[i] = (float)((i * 7919) % 1000) / 500.0f - 1.0f;
    auto call = [&] {
        std::vector<c10::IValue> args;
        args.push_back(torch::from_blob(in.data(), {batch, nf}, torch::kFloat));
        at::Tensor r = m.forward(std::move(args)).toTensor().contiguous();
        out.resize((size_t)r.numel());
        memcpy(out.data(), r.data_ptr(), out.size() * sizeof(float));
    };
    for (int i = 0; i < 20; i++) // the profiling executor's first runs, and warm caches
        call();
    long calls = 0;
    struct timespec c0, c1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    auto t0 = std::chrono::steady_clock::now();
    double el = 0;
    while (el < seconds) {
        for (int i = 0; i < 64; i++)
            call();
        calls += 64;
        el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    double cpu = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
    printf("BENCH_CALL {\"calls_per_s\": %.1f, \"us_per_call\": %.2f, \"cpu_us_per_call\": %.2f, "
           "\"calls\": %ld}\n",
           calls / el, el * 1e6 / calls, cpu * 1e6 / calls, calls);
    return 0;
}
