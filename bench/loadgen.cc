// A closed-loop gRPC load generator in C++, for measuring a server's own costs on the same cores:
// Python's gRPC client costs ~0.3 ms of CPU per call, as much as the server's own work on a
// near-free model; this one costs a few microseconds. Built by `make bench` (Debian's libgrpc++).
//
//   loadgen REQUESTS_FILE ADDRESS SECONDS WARMUP_SECONDS
//
// REQUESTS_FILE (written by bench/workload.py): u32 clients, then per client u32 count and `count`
// serialized Classify requests (u32 length, bytes); each client sends its first request once
// (the photo upload) and then cycles through the rest, one call at a time, on a connection of its
// own. Prints one JSON line: requests completed in the measured window, errors, latency
// percentiles, and this process's CPU seconds.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

using Clock = std::chrono::steady_clock;
static const char kMethod[] = "/maskscope.v1.Classifier/Classify";

struct Client {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<grpc::GenericStub> stub;
  std::vector<grpc::ByteBuffer> requests;  // [0]: the upload, sent once
  size_t next = 0;
  std::unique_ptr<grpc::ClientContext> context;
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> call;
  grpc::ByteBuffer response;
  grpc::Status status;
  Clock::time_point sent;
};

static uint32_t ReadU32(std::ifstream& in) {
  uint32_t value = 0;
  in.read(reinterpret_cast<char*>(&value), 4);
  return value;
}

static double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

static void Send(Client& c, grpc::CompletionQueue& cq) {
  const grpc::ByteBuffer& request = c.requests[c.next == 0 ? 0 : 1 + (c.next - 1) % (c.requests.size() - 1)];
  c.context = std::make_unique<grpc::ClientContext>();
  c.context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  c.response.Clear();
  c.sent = Clock::now();
  c.call = c.stub->PrepareUnaryCall(c.context.get(), kMethod, request, &cq);
  c.call->StartCall();
  c.call->Finish(&c.response, &c.status, &c);
}

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s REQUESTS_FILE ADDRESS SECONDS WARMUP_SECONDS\n", argv[0]);
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", argv[1]);
    return 2;
  }
  const double seconds = std::stod(argv[3]), warmup = std::stod(argv[4]);
  std::vector<Client> clients(ReadU32(in));
  for (Client& c : clients) {
    uint32_t count = ReadU32(in);
    for (uint32_t i = 0; i < count; ++i) {
      std::string bytes(ReadU32(in), '\0');
      in.read(bytes.data(), bytes.size());
      grpc::Slice slice(bytes);
      c.requests.emplace_back(&slice, 1);
    }
    if (c.requests.size() < 2) {
      std::fprintf(stderr, "each client needs an upload and at least one more request\n");
      return 2;
    }
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own, as a browser brings
    args.SetMaxReceiveMessageSize(64 << 20);
    c.channel = grpc::CreateCustomChannel(argv[2], grpc::InsecureChannelCredentials(), args);
    c.stub = std::make_unique<grpc::GenericStub>(c.channel);
  }
  grpc::CompletionQueue cq;
  const Clock::time_point start = Clock::now();
  const Clock::time_point measure_from = start + std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(warmup));
  const Clock::time_point measure_to = measure_from + std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(seconds));
  for (Client& c : clients) Send(c, cq);
  std::vector<double> latencies_ms;
  long errors = 0;
  size_t in_flight = clients.size();
  double cpu_from = -1, cpu_to = -1;
  void* tag;
  bool ok;
  while (in_flight > 0 && cq.Next(&tag, &ok)) {
    Client& c = *static_cast<Client*>(tag);
    const Clock::time_point now = Clock::now();
    if (cpu_from < 0 && now >= measure_from) cpu_from = CpuSeconds();
    if (!ok || !c.status.ok()) {
      ++errors;
      if (c.next == 0) std::fprintf(stderr, "upload failed: %s\n", c.status.error_message().c_str());
    } else if (now >= measure_from && now <= measure_to) {
      latencies_ms.push_back(std::chrono::duration<double, std::milli>(now - c.sent).count());
    }
    ++c.next;
    if (now < measure_to) {
      Send(c, cq);
    } else {
      if (cpu_to < 0) cpu_to = CpuSeconds();
      --in_flight;
    }
  }
  std::sort(latencies_ms.begin(), latencies_ms.end());
  auto percentile = [&](double p) {
    if (latencies_ms.empty()) return -1.0;
    return latencies_ms[std::min(latencies_ms.size() - 1, static_cast<size_t>(p * (latencies_ms.size() - 1) + 0.5))];
  };
  std::printf("{\"requests\": %zu, \"errors\": %ld, \"requests_per_s\": %.3f, \"p50_ms\": %.3f, \"p90_ms\": %.3f, "
              "\"p99_ms\": %.3f, \"client_cpu_s\": %.3f}\n",
              latencies_ms.size(), errors, latencies_ms.size() / seconds, percentile(0.5), percentile(0.9),
              percentile(0.99), (cpu_to < 0 ? CpuSeconds() : cpu_to) - std::max(0.0, cpu_from));
  return 0;
}
