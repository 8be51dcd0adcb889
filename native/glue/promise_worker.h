// One AsyncWorker for every asynchronous call: runs `work` on libuv's thread pool (tensor work through a
// ComputeThread, see onThread), converts its result on the JS thread and settles a Promise. JS objects the work reads (typed arrays, wrapped models) are
// held by references until the worker is done, so the GC cannot free them mid-flight.
#pragma once
#include <napi.h>

#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "glue/compute_thread.h"
#include "glue/errors.h"

namespace kds::glue {

template <typename Result>
class PromiseWorker final : public Napi::AsyncWorker {
 public:
  using Work = std::function<Result()>;
  using Convert = std::function<Napi::Value(Napi::Env, Result&)>;

  // `work` made to run on `thread`; the pool thread waits for it, and the thread lives while work is queued.
  static Work onThread(std::shared_ptr<ComputeThread> thread, Work work) {
    return [thread = std::move(thread), work = std::move(work)] {
      Result result{};
      thread->run([&] { result = work(); });
      return result;
    };
  }

  static Napi::Promise start(Napi::Env env, Work work, Convert convert, std::vector<Napi::Value> keepAlive = {},
                             std::function<void()> onSettled = {}) {
    auto* worker = new PromiseWorker(env, std::move(work), std::move(convert), std::move(onSettled));
    for (auto& value : keepAlive)
      if (value.IsObject()) worker->keepAlive_.push_back(Napi::Persistent(value.As<Napi::Object>()));
    auto promise = worker->deferred_.Promise();
    worker->Queue();
    return promise;
  }

 private:
  PromiseWorker(Napi::Env env, Work work, Convert convert, std::function<void()> onSettled)
      : Napi::AsyncWorker(env, "kds"),
        deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)),
        convert_(std::move(convert)),
        onSettled_(std::move(onSettled)) {}

  void Execute() override {
    try {
      result_ = work_();
    } catch (...) {
      error_ = describeCurrentException();
      SetError(error_.message);
    }
  }

  void OnOK() override {
    settled();
    Napi::Env env = Env();
    try {
      deferred_.Resolve(convert_(env, result_));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (...) {
      deferred_.Reject(makeError(env, describeCurrentException()).Value());
    }
  }

  void OnError(const Napi::Error&) override {
    settled();
    deferred_.Reject(makeError(Env(), error_).Value());
  }

  void settled() {
    if (onSettled_) onSettled_();
  }

  Napi::Promise::Deferred deferred_;
  Work work_;
  Convert convert_;
  std::function<void()> onSettled_;
  std::vector<Napi::ObjectReference> keepAlive_;
  Result result_{};
  ErrorInfo error_;
};

// For work without a result.
struct Nothing {};

}  // namespace kds::glue
