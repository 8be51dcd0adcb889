// NativeSession: the JS handle on kds::Session. While a step runs on a worker, every other call that
// would touch the session fails with E_STATE (lib/kds.ts queues calls so users rarely see that).
#pragma once
#include <napi.h>

#include <memory>
#include <string>

#include "api/session.h"
#include "glue/compute_thread.h"

namespace kds::glue {

class SessionWrap : public Napi::ObjectWrap<SessionWrap> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit SessionWrap(const Napi::CallbackInfo& info);

 private:
  Session& session(Napi::Env env, const char* method);
  std::string busyMessage(const char* method) const;
  Napi::Value setDevice(const Napi::CallbackInfo& info);
  Napi::Value device(const Napi::CallbackInfo& info);
  Napi::Value setTeacher(const Napi::CallbackInfo& info);
  Napi::Value setStudent(const Napi::CallbackInfo& info);
  Napi::Value setLoss(const Napi::CallbackInfo& info);
  Napi::Value setOptimizer(const Napi::CallbackInfo& info);
  Napi::Value setPrecision(const Napi::CallbackInfo& info);
  Napi::Value setTeacherPrecision(const Napi::CallbackInfo& info);
  Napi::Value setChannelsLast(const Napi::CallbackInfo& info);
  Napi::Value setEma(const Napi::CallbackInfo& info);
  Napi::Value swapAveragedWeights(const Napi::CallbackInfo& info);
  Napi::Value train(const Napi::CallbackInfo& info);
  Napi::Value saveStudent(const Napi::CallbackInfo& info);
  Napi::Value saveCheckpoint(const Napi::CallbackInfo& info);
  Napi::Value loadCheckpoint(const Napi::CallbackInfo& info);
  Napi::Value steps(const Napi::CallbackInfo& info);
  Napi::Value setDistributed(const Napi::CallbackInfo& info);
  Napi::Value rank(const Napi::CallbackInfo& info);
  Napi::Value worldSize(const Napi::CallbackInfo& info);
  Napi::Value busy(const Napi::CallbackInfo& info);
  Napi::Value dispose(const Napi::CallbackInfo& info);

  std::shared_ptr<Session> session_;
  // Every asynchronous call of this session runs on this one thread (see compute_thread.h).
  std::shared_ptr<ComputeThread> thread_ = std::make_shared<ComputeThread>();
  // The JS name of the asynchronous call whose work holds the session (train, saveStudentModel,
  // saveCheckpoint, loadCheckpoint, setDistributed); null when idle. Touched on the JS thread only.
  const char* busyWith_ = nullptr;
  // JS handles of the models the session holds, so they outlive it.
  Napi::ObjectReference teacherRef_, studentRef_;
};

}  // namespace kds::glue
