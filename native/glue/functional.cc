#include "glue/functional.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "api/functional.h"
#include "glue/errors.h"
#include "glue/js_args.h"
#include "glue/promise_worker.h"
#include "glue/tensor_wrap.h"
#include "glue/term_options.h"

namespace kds::glue {
namespace {

bool isFloat64Data(Napi::Value value) {
  if (!value.IsObject()) return false;
  Napi::Value data = value.As<Napi::Object>().Get("data");
  return data.IsTypedArray() && data.As<Napi::TypedArray>().TypedArrayType() == napi_float64_array;
}

// A NativeTensor, { data: Float32Array, shape } (as everywhere) or { data: Float64Array, shape }.
FeatureInput readFeatureArg(Napi::Value value, const std::string& name, std::vector<Napi::Value>& keepAlive) {
  Napi::Env env = value.Env();
  if (!isFloat64Data(value)) {
    TensorArg arg = readTensorArg(value, name, keepAlive);
    return FeatureInput{arg.tensor, arg.data, false, arg.shape};
  }
  auto obj = value.As<Napi::Object>();
  auto array = obj.Get("data").As<Napi::Float64Array>();
  Napi::Value shape = obj.Get("shape");
  if (!shape.IsArray()) throw makeError(env, ErrorCode::Argument, name + ".shape must be an array of integers");
  FeatureInput in;
  in.isFloat64 = true;
  auto dims = shape.As<Napi::Array>();
  double numel = 1;
  for (uint32_t i = 0; i < dims.Length(); ++i) {
    Napi::Value d = dims.Get(i);
    const double v = d.IsNumber() ? d.As<Napi::Number>().DoubleValue() : -1;
    if (!(v >= 0) || std::floor(v) != v)
      throw makeError(env, ErrorCode::Argument, name + ".shape[" + std::to_string(i) + "] must be a non-negative integer");
    in.shape.push_back(static_cast<int64_t>(v));
    numel *= v;
  }
  if (numel != static_cast<double>(array.ElementLength()))
    throw makeError(env, ErrorCode::Shape, name + ".shape " + shapeToString(in.shape) + " needs " +
                                              std::to_string(static_cast<int64_t>(numel)) + " values, but data has " +
                                              std::to_string(array.ElementLength()));
  in.data = array.Data();
  keepAlive.push_back(array);
  return in;
}

}  // namespace

Napi::Value spatialAffinityLoss(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    std::vector<Napi::Value> keep;
    FeatureInput student = readFeatureArg(info[0], "student", keep);
    FeatureInput teacher = readFeatureArg(info[1], "teacher", keep);
    auto o = objectArg(info, 2, "options");
    SpatialAffinityOptions options;
    options.impl = stringOption(o, "impl");
    options.eps = numberOption(o, "eps");
    options.tile = static_cast<int64_t>(numberOption(o, "tile"));
    options.pool = stringOption(o, "pool");
    options.poolSize = static_cast<int>(numberOption(o, "poolSize"));
    const std::string dtype = stringOption(o, "dtype");
    if (dtype != "float32" && dtype != "float64")
      throw makeError(env, ErrorCode::Argument, "option 'dtype' must be 'float32' or 'float64', got '" + dtype + "'");
    options.float64 = dtype == "float64";
    return PromiseWorker<LossWithGrad>::start(
        env,
        PromiseWorker<LossWithGrad>::onThread(ComputeThread::shared(),
                                              [student, teacher, options] { return kds::spatialAffinityLoss(student, teacher, options); }),
        [](Napi::Env env, LossWithGrad& r) -> Napi::Value {
          auto out = Napi::Object::New(env);
          out.Set("loss", Napi::Number::New(env, r.loss));
          out.Set("grad", TensorWrap::create(env, r.grad));
          return out;
        },
        keep);
  });
}

namespace {

std::vector<FeatureInput> readFeatureList(Napi::Value value, const std::string& name, std::vector<Napi::Value>& keepAlive) {
  if (!value.IsArray()) throw makeError(value.Env(), ErrorCode::Argument, name + " must be an array of feature maps");
  auto array = value.As<Napi::Array>();
  std::vector<FeatureInput> out;
  for (uint32_t i = 0; i < array.Length(); ++i) out.push_back(readFeatureArg(array.Get(i), name + "[" + std::to_string(i) + "]", keepAlive));
  return out;
}

}  // namespace

Napi::Value featureLoss(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const std::string type = stringArg(info, 0, "type");
    const FeatureTermInfo& term = featureTermInfo(type);
    std::vector<Napi::Value> keep;
    auto students = readFeatureList(info[1], "students", keep);
    auto teachers = readFeatureList(info[2], "teachers", keep);
    auto o = objectArg(info, 3, "options");
    TermOptions options = readTermOptions(o, term);
    const std::string dtype = stringOption(o, "dtype");
    if (dtype != "float32" && dtype != "float64")
      throw makeError(env, ErrorCode::Argument, "option 'dtype' must be 'float32' or 'float64', got '" + dtype + "'");
    const bool float64 = dtype == "float64";
    return PromiseWorker<FeatureLossResult>::start(
        env,
        PromiseWorker<FeatureLossResult>::onThread(
            ComputeThread::shared(), [type, students, teachers, options, float64] { return kds::featureLoss(type, students, teachers, options, float64); }),
        [](Napi::Env env, FeatureLossResult& r) -> Napi::Value {
          auto out = Napi::Object::New(env);
          out.Set("loss", Napi::Number::New(env, r.loss));
          auto grads = Napi::Array::New(env, r.shapes.size());
          for (size_t i = 0; i < r.shapes.size(); ++i) {
            if (r.grads64.empty()) {
              grads.Set(static_cast<uint32_t>(i), TensorWrap::create(env, r.grads[i]));
              continue;
            }
            auto values = Napi::Float64Array::New(env, r.grads64[i].size());
            std::copy(r.grads64[i].begin(), r.grads64[i].end(), values.Data());
            auto shape = Napi::Array::New(env, r.shapes[i].size());
            for (size_t d = 0; d < r.shapes[i].size(); ++d) shape.Set(static_cast<uint32_t>(d), Napi::Number::New(env, static_cast<double>(r.shapes[i][d])));
            auto grad = Napi::Object::New(env);
            grad.Set("data", values);
            grad.Set("shape", shape);
            grads.Set(static_cast<uint32_t>(i), grad);
          }
          out.Set("grads", grads);
          return out;
        },
        keep);
  });
}

}  // namespace kds::glue
