#include "glue/model_wrap.h"

#include "api/model_tensors.h"
#include "glue/addon_data.h"
#include "glue/errors.h"
#include "glue/js_args.h"
#include "glue/promise_worker.h"
#include "glue/tensor_wrap.h"

namespace kds::glue {

Napi::Function ModelWrap::define(Napi::Env env) {
  return DefineClass(env, "NativeModel",
                     {InstanceAccessor<&ModelWrap::kind>("kind"), InstanceAccessor<&ModelWrap::hasFeatures>("hasFeatures"),
                      InstanceAccessor<&ModelWrap::scale>("scale"),
                      InstanceAccessor<&ModelWrap::parameterCount>("parameterCount"),
                      InstanceAccessor<&ModelWrap::device>("device"), InstanceMethod<&ModelWrap::forward>("forward"),
                      InstanceMethod<&ModelWrap::save>("save"),
                      InstanceMethod<&ModelWrap::saveStateDict>("saveStateDict"), InstanceMethod<&ModelWrap::loadStateDict>("loadStateDict"),
                      InstanceMethod<&ModelWrap::summary>("summary"), InstanceMethod<&ModelWrap::namedTensors>("namedTensors"),
                      InstanceMethod<&ModelWrap::dispose>("dispose")});
}

Napi::Object ModelWrap::create(Napi::Env env, ModelPtr model) {
  auto* holder = new ModelPtr(std::move(model));
  auto external = Napi::External<ModelPtr>::New(env, holder, [](Napi::Env, ModelPtr* p) { delete p; });
  return addonData(env).modelClass.New({external});
}

ModelWrap* ModelWrap::unwrapIf(Napi::Value value) {
  if (!value.IsObject()) return nullptr;
  if (!value.As<Napi::Object>().InstanceOf(addonData(value.Env()).modelClass.Value())) return nullptr;
  return ModelWrap::Unwrap(value.As<Napi::Object>());
}

ModelWrap::ModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelWrap>(info), env_(info.Env()) {
  if (info.Length() != 1 || !info[0].IsExternal())
    throw makeError(info.Env(), ErrorCode::Argument, "NativeModel cannot be constructed directly; use models.edsr/rcan/san() or loadTorchScript()");
  // take the reference out of the holder: dispose() must drop it now, not when the GC frees the External
  model_ = std::move(*info[0].As<Napi::External<ModelPtr>>().Data());
  if (model_) {
    reportedBytes_ = model_->parameterCount() * static_cast<int64_t>(sizeof(float));
    Napi::MemoryManagement::AdjustExternalMemory(env_, reportedBytes_);
  }
}

ModelWrap::~ModelWrap() { release(); }

void ModelWrap::release() {
  model_.reset();
  if (reportedBytes_ != 0) Napi::MemoryManagement::AdjustExternalMemory(env_, -reportedBytes_);
  reportedBytes_ = 0;
}

const ModelPtr& ModelWrap::model(Napi::Env env) const {
  if (!model_) throw makeError(env, ErrorCode::State, "this model was disposed");
  return model_;
}

Napi::Value ModelWrap::kind(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), model(info.Env())->kind()); }

Napi::Value ModelWrap::hasFeatures(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), model(info.Env())->hasFeatures());
}

Napi::Value ModelWrap::scale(const Napi::CallbackInfo& info) {
  auto s = model(info.Env())->scale();
  return s ? Napi::Number::New(info.Env(), *s) : info.Env().Null();
}

Napi::Value ModelWrap::parameterCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(model(info.Env())->parameterCount()));
}

Napi::Value ModelWrap::device(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), model(info.Env())->device()); }

Napi::Value ModelWrap::forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ModelPtr m = model(env);
  std::vector<Napi::Value> keep{info.This()};
  TensorArg input = readTensorArg(info[0], "input", keep);
  return PromiseWorker<ForwardResult>::start(
      env, PromiseWorker<ForwardResult>::onThread(ComputeThread::shared(), [m, input] { return m->forward(*input.resolve()); }),
      [](Napi::Env env, ForwardResult& r) -> Napi::Value {
        auto features = Napi::Array::New(env, r.features.size());
        for (size_t i = 0; i < r.features.size(); ++i) features.Set(i, TensorWrap::create(env, r.features[i]));
        auto out = Napi::Object::New(env);
        out.Set("features", features);
        out.Set("output", TensorWrap::create(env, r.output));
        return out;
      },
      keep);
}

Napi::Value ModelWrap::save(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ModelPtr m = model(env);
  std::string path = stringArg(info, 0, "path");
  return PromiseWorker<Nothing>::start(
      env, [m, path] { m->save(path); return Nothing{}; }, [](Napi::Env env, Nothing&) { return env.Undefined(); },
      {info.This()});
}

Napi::Value ModelWrap::saveStateDict(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ModelPtr m = model(env);
  std::string path = stringArg(info, 0, "path");
  return PromiseWorker<Nothing>::start(
      env, [m, path] { m->saveStateDict(path); return Nothing{}; }, [](Napi::Env env, Nothing&) { return env.Undefined(); },
      {info.This()});
}

Napi::Value ModelWrap::loadStateDict(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ModelPtr m = model(env);
  std::string path = stringArg(info, 0, "path");
  LoadOptions options;
  options.strict = boolOption(objectArg(info, 1, "options"), "strict");
  return PromiseWorker<Nothing>::start(
      env, [m, path, options] { m->loadStateDict(path, options); return Nothing{}; },
      [](Napi::Env env, Nothing&) { return env.Undefined(); }, {info.This()});
}

Napi::Value ModelWrap::namedTensors(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ModelPtr m = model(env);
  return PromiseWorker<std::vector<NamedTensor>>::start(
      env, [m] { return kds::namedTensors(*m); },
      [](Napi::Env env, std::vector<NamedTensor>& tensors) -> Napi::Value {
        auto out = Napi::Array::New(env, tensors.size());
        for (size_t i = 0; i < tensors.size(); ++i) {
          auto item = Napi::Object::New(env);
          item.Set("name", tensors[i].name);
          item.Set("tensor", TensorWrap::create(env, tensors[i].tensor));
          out.Set(i, item);
        }
        return out;
      },
      {info.This()});
}

Napi::Value ModelWrap::summary(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ModelPtr m = model(env);
  auto o = objectArg(info, 0, "options");
  const auto height = static_cast<int64_t>(numberOption(o, "height"));
  const auto width = static_cast<int64_t>(numberOption(o, "width"));
  auto shapeArray = [](Napi::Env env, const std::vector<int64_t>& shape) {
    auto a = Napi::Array::New(env, shape.size());
    for (size_t i = 0; i < shape.size(); ++i) a.Set(i, Napi::Number::New(env, static_cast<double>(shape[i])));
    return a;
  };
  return PromiseWorker<ModelSummary>::start(
      env, [m, height, width] { return m->summary(height, width); },
      [shapeArray](Napi::Env env, ModelSummary& s) -> Napi::Value {
        auto out = Napi::Object::New(env);
        out.Set("parameters", static_cast<double>(s.parameters));
        out.Set("frozenParameters", static_cast<double>(s.frozenParameters));
        out.Set("multiplyAdds", s.multiplyAdds < 0 ? env.Null() : Napi::Number::New(env, static_cast<double>(s.multiplyAdds)));
        out.Set("outputShape", shapeArray(env, s.outputShape));
        auto features = Napi::Array::New(env, s.featureShapes.size());
        for (size_t i = 0; i < s.featureShapes.size(); ++i) features.Set(i, shapeArray(env, s.featureShapes[i]));
        out.Set("featureShapes", features);
        return out;
      },
      {info.This()});
}

void ModelWrap::dispose(const Napi::CallbackInfo&) { release(); }

// The spec's values by type: numbers, and arrays of integers (feature taps). Which keys a kind needs is the
// model table's business (native/models/registry.cc), not the glue's.
static ModelSpec readModelSpec(Napi::Env env, const std::string& kind, const Napi::Object& o) {
  ModelSpec spec;
  spec.kind = kind;
  Napi::Array keys = o.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    const std::string key = keys.Get(i).As<Napi::String>().Utf8Value();
    Napi::Value v = o.Get(key);
    if (v.IsNumber()) {
      spec.numbers[key] = v.As<Napi::Number>().DoubleValue();
      continue;
    }
    auto bad = [&] { return makeError(env, ErrorCode::Argument, kind + ": option '" + key + "' must be a number or an array of integers"); };
    if (!v.IsArray()) throw bad();
    auto a = v.As<Napi::Array>();
    std::vector<int> list;
    for (uint32_t j = 0; j < a.Length(); ++j) {
      Napi::Value item = a.Get(j);
      if (!item.IsNumber()) throw bad();
      list.push_back(item.As<Napi::Number>().Int32Value());
    }
    spec.intLists[key] = std::move(list);
  }
  return spec;
}

Napi::Value createModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    ModelSpec spec = readModelSpec(env, stringArg(info, 0, "kind"), objectArg(info, 1, "spec"));
    return ModelWrap::create(env, kds::createModel(spec));
  });
}

Napi::Value loadTorchScript(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = stringArg(info, 0, "path");
  return PromiseWorker<ModelPtr>::start(
      env, [path] { return kds::loadTorchScript(path); },
      [](Napi::Env env, ModelPtr& m) -> Napi::Value { return ModelWrap::create(env, m); });
}

}  // namespace kds::glue
