// Registers the addon's classes and functions. lib/native.ts describes this surface in TypeScript.
#include <napi.h>

#include "api/runtime.h"
#include "glue/addon_data.h"
#include "glue/data_wrap.h"
#include "glue/errors.h"
#include "glue/functional.h"
#include "glue/model_wrap.h"
#include "glue/session_wrap.h"
#include "glue/tensor_wrap.h"
#include "glue/term_options.h"

namespace kds::glue {
namespace {

Napi::Value setNumThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw makeError(env, ErrorCode::Argument, "numThreads must be a number");
  guarded(env, [&] { kds::setNumThreads(info[0].As<Napi::Number>().Int32Value()); });
  return env.Undefined();
}

Napi::Value getNumThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), kds::numThreads()); }

Napi::Value manualSeed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw makeError(env, ErrorCode::Argument, "seed must be a number");
  kds::manualSeed(static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()));
  return env.Undefined();
}

Napi::Value setCudnnBenchmark(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsBoolean()) throw makeError(env, ErrorCode::Argument, "cudnnBenchmark must be a boolean");
  guarded(env, [&] { kds::setCudnnBenchmark(info[0].As<Napi::Boolean>().Value()); });
  return env.Undefined();
}

Napi::Value buildInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto b = guarded(env, [] { return kds::buildInfo(); });
  auto out = Napi::Object::New(env);
  out.Set("torchVersion", b.torchVersion);
  out.Set("libtorchDir", b.libtorchDir);
  out.Set("cudaAvailable", b.cudaAvailable);
  out.Set("cudaDeviceCount", b.cudaDeviceCount);
  auto strings = [&env](const std::vector<std::string>& values) {
    auto array = Napi::Array::New(env, values.size());
    for (uint32_t i = 0; i < values.size(); ++i) array.Set(i, values[i]);
    return array;
  };
  out.Set("cudaDevices", strings(b.cudaDevices));
  auto teacherPrecisions = Napi::Object::New(env);
  teacherPrecisions.Set("cpu", strings(b.cpuTeacherPrecisions));
  teacherPrecisions.Set("cuda", strings(b.cudaTeacherPrecisions));
  out.Set("teacherPrecisions", teacherPrecisions);
  out.Set("cudnnBenchmark", b.cudnnBenchmark);
  out.Set("numThreads", b.numThreads);
  out.Set("parallelInfo", b.parallelInfo);
  out.Set("gloo", b.gloo);
  out.Set("distributed", b.gloo);  // the older name of gloo, kept for compatibility
  out.Set("nccl", b.nccl);
  return out;
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  env.SetInstanceData<AddonData>(data);
  Napi::Function tensorClass = TensorWrap::define(env);
  Napi::Function modelClass = ModelWrap::define(env);
  data->tensorClass = Napi::Persistent(tensorClass);
  data->modelClass = Napi::Persistent(modelClass);
  exports.Set("NativeTensor", tensorClass);
  exports.Set("NativeModel", modelClass);
  exports.Set("NativeSession", SessionWrap::define(env));
  exports.Set("createModel", Napi::Function::New(env, createModel, "createModel"));
  exports.Set("loadTorchScript", Napi::Function::New(env, loadTorchScript, "loadTorchScript"));
  exports.Set("spatialAffinityLoss", Napi::Function::New(env, spatialAffinityLoss, "spatialAffinityLoss"));
  exports.Set("featureLoss", Napi::Function::New(env, featureLoss, "featureLoss"));
  exports.Set("featureTerms", Napi::Function::New(env, featureTerms, "featureTerms"));
  exports.Set("setNumThreads", Napi::Function::New(env, setNumThreads, "setNumThreads"));
  exports.Set("getNumThreads", Napi::Function::New(env, getNumThreads, "getNumThreads"));
  exports.Set("manualSeed", Napi::Function::New(env, manualSeed, "manualSeed"));
  exports.Set("setCudnnBenchmark", Napi::Function::New(env, setCudnnBenchmark, "setCudnnBenchmark"));
  exports.Set("buildInfo", Napi::Function::New(env, buildInfo, "buildInfo"));
  registerDataFunctions(env, exports);
  return exports;
}

}  // namespace
}  // namespace kds::glue

static Napi::Object InitKds(Napi::Env env, Napi::Object exports) { return kds::glue::init(env, exports); }
NODE_API_MODULE(kds, InitKds)
