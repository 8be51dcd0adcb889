#include "glue/compute_thread.h"

#include <exception>
#include <future>

namespace kds::glue {

ComputeThread::ComputeThread() : thread_([this] { loop(); }) {}

ComputeThread::~ComputeThread() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

const std::shared_ptr<ComputeThread>& ComputeThread::shared() {
  static auto* thread = new std::shared_ptr<ComputeThread>(std::make_shared<ComputeThread>());
  return *thread;
}

void ComputeThread::run(const std::function<void()>& task) {
  std::packaged_task<void()> packaged(task);
  auto done = packaged.get_future();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.emplace_back([&packaged] { packaged(); });
  }
  wake_.notify_one();
  done.get();  // rethrows the task's exception
}

void ComputeThread::loop() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left to do
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();  // a packaged_task: exceptions go to the waiting caller
  }
}

}  // namespace kds::glue
