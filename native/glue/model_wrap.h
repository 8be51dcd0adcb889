// NativeModel: a JS handle on a core model (a kind of the model table, or TorchScript), and the functions
// that create one.
#pragma once
#include <napi.h>

#include "api/model.h"

namespace kds::glue {

class ModelWrap : public Napi::ObjectWrap<ModelWrap> {
 public:
  static Napi::Function define(Napi::Env env);
  static Napi::Object create(Napi::Env env, ModelPtr model);
  static ModelWrap* unwrapIf(Napi::Value value);

  explicit ModelWrap(const Napi::CallbackInfo& info);
  ~ModelWrap() override;
  const ModelPtr& model(Napi::Env env) const;

 private:
  Napi::Value kind(const Napi::CallbackInfo& info);
  Napi::Value hasFeatures(const Napi::CallbackInfo& info);
  Napi::Value scale(const Napi::CallbackInfo& info);
  Napi::Value parameterCount(const Napi::CallbackInfo& info);
  Napi::Value device(const Napi::CallbackInfo& info);
  Napi::Value forward(const Napi::CallbackInfo& info);
  Napi::Value save(const Napi::CallbackInfo& info);
  Napi::Value saveStateDict(const Napi::CallbackInfo& info);
  Napi::Value loadStateDict(const Napi::CallbackInfo& info);
  Napi::Value summary(const Napi::CallbackInfo& info);
  // namedTensors(): Promise<{ name, tensor: NativeTensor }[]>, float32 CPU copies (for exporters).
  Napi::Value namedTensors(const Napi::CallbackInfo& info);
  void dispose(const Napi::CallbackInfo& info);
  void release();

  ModelPtr model_;
  // Parameter bytes reported to V8 (AdjustExternalMemory) while this handle holds the model.
  Napi::Env env_;
  int64_t reportedBytes_ = 0;
};

// createModel(kind, spec): NativeModel of any kind in the model table, from its complete spec
// (synchronous: building is quick).
Napi::Value createModel(const Napi::CallbackInfo& info);
// loadTorchScript(path): Promise<NativeModel>.
Napi::Value loadTorchScript(const Napi::CallbackInfo& info);

}  // namespace kds::glue
