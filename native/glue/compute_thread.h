// A long-lived thread that runs tensor work, one task at a time, for the libuv worker that waits on it.
//
// Why not run the work on libuv's pool directly: glibc's malloc gives each thread its own arena and keeps
// freed memory in it. Consecutive training steps landing on different pool threads each leave a step's
// worth of freed tensors in a different arena, so a process's peak memory grew to several times one
// step's need (854 MB against 377 MB for the same step when all of it ran on one thread; see
// BENCHMARKS.md). Running every step of a session on the same thread keeps that memory in one arena,
// where the next step reuses it, as in a Python training loop.
#pragma once
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace kds::glue {

class ComputeThread {
 public:
  ComputeThread();
  ~ComputeThread();  // finishes the queued tasks, then joins
  ComputeThread(const ComputeThread&) = delete;
  ComputeThread& operator=(const ComputeThread&) = delete;

  // Runs `task` on this thread and returns when it is done; its exception is rethrown here.
  void run(const std::function<void()>& task);

  // The thread shared by the calls that belong to no session (model forward, functional losses). It is
  // never destroyed, so that process exit never waits for a task in flight.
  static const std::shared_ptr<ComputeThread>& shared();

 private:
  void loop();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace kds::glue
