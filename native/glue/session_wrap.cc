#include "glue/session_wrap.h"

#include "glue/errors.h"
#include "glue/js_args.h"
#include "glue/model_wrap.h"
#include "glue/promise_worker.h"
#include "glue/tensor_wrap.h"
#include "glue/term_options.h"

namespace kds::glue {

Napi::Function SessionWrap::define(Napi::Env env) {
  return DefineClass(env, "NativeSession",
                     {InstanceMethod<&SessionWrap::setDevice>("setDevice"), InstanceAccessor<&SessionWrap::device>("device"),
                      InstanceMethod<&SessionWrap::setTeacher>("setTeacher"),
                      InstanceMethod<&SessionWrap::setStudent>("setStudent"), InstanceMethod<&SessionWrap::setLoss>("setLoss"),
                      InstanceMethod<&SessionWrap::setOptimizer>("setOptimizer"), InstanceMethod<&SessionWrap::train>("train"),
                      InstanceMethod<&SessionWrap::setPrecision>("setPrecision"),
                      InstanceMethod<&SessionWrap::setTeacherPrecision>("setTeacherPrecision"),
                      InstanceMethod<&SessionWrap::setChannelsLast>("setChannelsLast"),
                      InstanceMethod<&SessionWrap::setEma>("setEma"),
                      InstanceMethod<&SessionWrap::swapAveragedWeights>("swapAveragedWeights"),
                      InstanceMethod<&SessionWrap::saveStudent>("saveStudent"),
                      InstanceMethod<&SessionWrap::saveCheckpoint>("saveCheckpoint"),
                      InstanceMethod<&SessionWrap::loadCheckpoint>("loadCheckpoint"),
                      InstanceAccessor<&SessionWrap::steps>("steps"), InstanceAccessor<&SessionWrap::busy>("busy"),
                      InstanceMethod<&SessionWrap::setDistributed>("setDistributed"),
                      InstanceAccessor<&SessionWrap::rank>("rank"), InstanceAccessor<&SessionWrap::worldSize>("worldSize"),
                      InstanceMethod<&SessionWrap::dispose>("dispose")});
}

SessionWrap::SessionWrap(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<SessionWrap>(info), session_(std::make_shared<Session>()) {}

// Names the call whose work holds the session, so the message says what to await.
std::string SessionWrap::busyMessage(const char* method) const {
  return std::string(method) + "(): " + busyWith_ + "() is still running on this session; await it first";
}

Session& SessionWrap::session(Napi::Env env, const char* method) {
  if (!session_) throw makeError(env, ErrorCode::State, std::string(method) + "(): this KDS session was disposed");
  if (busyWith_) throw makeError(env, ErrorCode::State, busyMessage(method));
  return *session_;
}

Napi::Value SessionWrap::setDevice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto& s = session(env, "setDevice");
  std::string name = stringArg(info, 0, "device");
  guarded(env, [&] { s.setDevice(name); });
  return env.Undefined();
}

Napi::Value SessionWrap::device(const Napi::CallbackInfo& info) {
  if (!session_) return info.Env().Null();
  return Napi::String::New(info.Env(), session_->device());
}

static ModelPtr modelArg(const Napi::CallbackInfo& info, const char* role) {
  auto* wrap = info.Length() > 0 ? ModelWrap::unwrapIf(info[0]) : nullptr;
  if (!wrap) throw makeError(info.Env(), ErrorCode::Argument, std::string(role) + " must be a kds Model (from models.edsr/rcan/san/studentOf() or loadTorchScript())");
  return wrap->model(info.Env());
}

Napi::Value SessionWrap::setTeacher(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto& s = session(env, "setTeacher");
  ModelPtr model = modelArg(info, "teacher");
  guarded(env, [&] { s.setTeacher(model); });
  teacherRef_ = Napi::Persistent(info[0].As<Napi::Object>());
  return env.Undefined();
}

Napi::Value SessionWrap::setStudent(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto& s = session(env, "setStudent");
  ModelPtr model = modelArg(info, "student");
  guarded(env, [&] { s.setStudent(model); });
  studentRef_ = Napi::Persistent(info[0].As<Napi::Object>());
  return env.Undefined();
}

Napi::Value SessionWrap::setLoss(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto& s = session(env, "setLoss");
  auto o = objectArg(info, 0, "loss options");
  LossOptions options;
  options.weightDS = numberOption(o, "DS");
  options.weightTS = numberOption(o, "TS");
  options.features = readFeatureTerms(o, "features");
  guarded(env, [&] { s.setLoss(options); });
  return env.Undefined();
}

Napi::Value SessionWrap::setOptimizer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto& s = session(env, "setOptimizer");
  auto o = objectArg(info, 0, "optimizer options");
  AdamOptions options;
  options.lr = numberOption(o, "lr");
  options.beta1 = numberOption(o, "beta1");
  options.beta2 = numberOption(o, "beta2");
  options.eps = numberOption(o, "eps");
  options.weightDecay = numberOption(o, "weightDecay");
  options.clipGradNorm = numberOption(o, "clipGradNorm");
  guarded(env, [&] { s.setOptimizer(options); });
  return env.Undefined();
}

Napi::Value SessionWrap::setPrecision(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto& s = session(env, "setPrecision");
  auto o = objectArg(info, 0, "precision options");
  PrecisionOptions options;
  options.precision = stringOption(o, "precision");
  options.initScale = numberOption(o, "initScale");
  options.growthFactor = numberOption(o, "growthFactor");
  options.backoffFactor = numberOption(o, "backoffFactor");
  options.growthInterval = static_cast<int64_t>(numberOption(o, "growthInterval"));
  guarded(env, [&] { s.setPrecision(options); });
  return env.Undefined();
}

Napi::Value SessionWrap::setTeacherPrecision(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto& s = session(env, "setTeacherPrecision");
  auto precision = stringArg(info, 0, "teacher precision");
  guarded(env, [&] { s.setTeacherPrecision(precision); });
  return env.Undefined();
}

Napi::Value SessionWrap::setChannelsLast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto& s = session(env, "setMemoryFormat");
  if (info.Length() < 1 || !info[0].IsBoolean()) throw makeError(env, ErrorCode::Argument, "channelsLast must be a boolean");
  bool on = info[0].As<Napi::Boolean>().Value();
  guarded(env, [&] { s.setChannelsLast(on); });
  return env.Undefined();
}

Napi::Value SessionWrap::setEma(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto& s = session(env, "setEma");
  if (info.Length() < 1 || !info[0].IsNumber()) throw makeError(env, ErrorCode::Argument, "ema decay must be a number");
  double decay = info[0].As<Napi::Number>().DoubleValue();
  guarded(env, [&] { s.setEma(decay); });
  return env.Undefined();
}

Napi::Value SessionWrap::swapAveragedWeights(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto& s = session(env, "withAveragedWeights");
  bool swapped = false;
  guarded(env, [&] { swapped = s.swapAveragedWeights(); });
  return Napi::Boolean::New(env, swapped);
}

Napi::Value SessionWrap::train(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  session(env, "train");
  std::vector<Napi::Value> keep{info.This()};
  TensorArg lr = readTensorArg(info[0], "lr", keep);
  TensorArg hr = readTensorArg(info[1], "hr", keep);
  busyWith_ = "train";
  std::shared_ptr<Session> s = session_;
  return PromiseWorker<StepLosses>::start(
      env, PromiseWorker<StepLosses>::onThread(thread_, [s, lr, hr] { return s->train(*lr.resolve(), *hr.resolve()); }),
      [](Napi::Env env, StepLosses& r) -> Napi::Value {
        auto out = Napi::Object::New(env);
        out.Set("total", r.total);
        out.Set("DS", r.DS);
        out.Set("TS", r.TS);
        out.Set("SA", r.SA);
        auto parts = Napi::Object::New(env);
        for (const auto& [name, value] : r.parts) parts.Set(name, value);
        out.Set("parts", parts);
        out.Set("skipped", r.skipped);
        out.Set("lossScale", r.lossScale);
        auto timings = Napi::Object::New(env);
        timings.Set("prepare", r.timings.prepare);
        timings.Set("teacherForward", r.timings.teacherForward);
        timings.Set("studentForward", r.timings.studentForward);
        timings.Set("loss", r.timings.loss);
        timings.Set("backward", r.timings.backward);
        timings.Set("optimizer", r.timings.optimizer);
        timings.Set("total", r.timings.total);
        out.Set("timings", timings);
        return out;
      },
      keep, [this] { busyWith_ = nullptr; });
}

Napi::Value SessionWrap::saveStudent(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  session(env, "saveStudentModel");
  std::string path = stringArg(info, 0, "path");
  busyWith_ = "saveStudentModel";
  std::shared_ptr<Session> s = session_;
  return PromiseWorker<Nothing>::start(
      env, PromiseWorker<Nothing>::onThread(thread_, [s, path] { s->saveStudent(path); return Nothing{}; }),
      [](Napi::Env env, Nothing&) { return env.Undefined(); },
      {info.This()}, [this] { busyWith_ = nullptr; });
}

Napi::Value SessionWrap::saveCheckpoint(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  session(env, "saveCheckpoint");
  std::string path = stringArg(info, 0, "path");
  std::string extra = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  busyWith_ = "saveCheckpoint";
  std::shared_ptr<Session> s = session_;
  return PromiseWorker<Nothing>::start(
      env, PromiseWorker<Nothing>::onThread(thread_, [s, path, extra] { s->saveCheckpoint(path, extra); return Nothing{}; }),
      [](Napi::Env env, Nothing&) { return env.Undefined(); }, {info.This()}, [this] { busyWith_ = nullptr; });
}

Napi::Value SessionWrap::loadCheckpoint(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  session(env, "loadCheckpoint");
  std::string path = stringArg(info, 0, "path");
  busyWith_ = "loadCheckpoint";
  std::shared_ptr<Session> s = session_;
  return PromiseWorker<std::string>::start(
      env, PromiseWorker<std::string>::onThread(thread_, [s, path] { return s->loadCheckpoint(path); }),
      [](Napi::Env env, std::string& extra) -> Napi::Value { return Napi::String::New(env, extra); }, {info.This()},
      [this] { busyWith_ = nullptr; });
}

Napi::Value SessionWrap::steps(const Napi::CallbackInfo& info) {
  if (!session_) return info.Env().Null();
  return Napi::Number::New(info.Env(), static_cast<double>(session_->steps()));
}

// Async: the rendezvous blocks until every rank joined (or the timeout), off the JS thread.
Napi::Value SessionWrap::setDistributed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  session(env, "setDistributed");
  auto o = objectArg(info, 0, "distributed options");
  DistributedOptions options;
  options.rank = static_cast<int>(numberOption(o, "rank"));
  options.worldSize = static_cast<int>(numberOption(o, "worldSize"));
  options.masterAddr = stringOption(o, "masterAddr");
  options.masterPort = static_cast<int>(numberOption(o, "masterPort"));
  options.backend = stringOption(o, "backend");
  options.timeoutMs = static_cast<int64_t>(numberOption(o, "timeoutMs"));
  busyWith_ = "setDistributed";
  std::shared_ptr<Session> s = session_;
  return PromiseWorker<Nothing>::start(
      env, PromiseWorker<Nothing>::onThread(thread_, [s, options] { s->setDistributed(options); return Nothing{}; }),
      [](Napi::Env env, Nothing&) { return env.Undefined(); },
      {info.This()}, [this] { busyWith_ = nullptr; });
}

Napi::Value SessionWrap::rank(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), session_ ? session_->rank() : 0);
}

Napi::Value SessionWrap::worldSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), session_ ? session_->worldSize() : 1);
}

Napi::Value SessionWrap::busy(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), busyWith_ != nullptr); }

Napi::Value SessionWrap::dispose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (busyWith_) throw makeError(env, ErrorCode::State, busyMessage("dispose"));
  session_.reset();
  teacherRef_.Reset();
  studentRef_.Reset();
  return env.Undefined();
}

}  // namespace kds::glue
