// NativeTensor: a JS handle on a core tensor, and the reading of tensor arguments.
#pragma once
#include <napi.h>

#include <string>
#include <vector>

#include "api/tensor.h"

namespace kds::glue {

class TensorWrap : public Napi::ObjectWrap<TensorWrap> {
 public:
  static Napi::Function define(Napi::Env env);
  static Napi::Object create(Napi::Env env, TensorPtr tensor);
  static TensorWrap* unwrapIf(Napi::Value value);  // nullptr when value is not a NativeTensor
  // NativeTensor.externalMemory(): V8's running total of native memory reported by AdjustExternalMemory
  // (all tensors and models), for tests.
  static Napi::Value externalMemory(const Napi::CallbackInfo& info);

  explicit TensorWrap(const Napi::CallbackInfo& info);
  ~TensorWrap() override;
  const TensorPtr& tensor(Napi::Env env) const;

 private:
  Napi::Value shape(const Napi::CallbackInfo& info);
  Napi::Value device(const Napi::CallbackInfo& info);
  Napi::Value toFloat32Array(const Napi::CallbackInfo& info);
  void dispose(const Napi::CallbackInfo& info);
  void release();

  TensorPtr tensor_;
  // What this handle told V8 it holds (AdjustExternalMemory), so the GC sees native memory pressure.
  Napi::Env env_;
  int64_t reportedBytes_ = 0;
};

// A tensor argument that a worker thread turns into a core tensor: either a NativeTensor or
// { data: Float32Array, shape: number[] }, whose memory the worker reads in place (no copy on the JS thread).
struct TensorArg {
  TensorPtr tensor;
  const float* data = nullptr;
  Shape shape;
  TensorPtr resolve() const { return tensor ? tensor : tensorFromHost(data, shape); }
};

// Validates `value` (named `name` in errors) and records the JS objects that must outlive the work.
TensorArg readTensorArg(Napi::Value value, const std::string& name, std::vector<Napi::Value>& keepAlive);

}  // namespace kds::glue
