#include "glue/data_wrap.h"

#include <cmath>
#include <string>
#include <vector>

#include "api/data.h"
#include "api/metrics.h"
#include "glue/errors.h"
#include "glue/js_args.h"
#include "glue/model_wrap.h"
#include "glue/promise_worker.h"
#include "glue/tensor_wrap.h"

namespace kds::glue {
namespace {

int64_t integerArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  const double v = info.Length() > i && info[i].IsNumber() ? info[i].As<Napi::Number>().DoubleValue() : NAN;
  if (!std::isfinite(v) || std::floor(v) != v) throw makeError(info.Env(), ErrorCode::Argument, std::string(name) + " must be an integer");
  return static_cast<int64_t>(v);
}

double numberArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsNumber()) throw makeError(info.Env(), ErrorCode::Argument, std::string(name) + " must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

// A NativeTensor made by the core (8-bit images are never built from JS data).
TensorPtr nativeTensorArg(Napi::Value value, const std::string& name, std::vector<Napi::Value>& keepAlive) {
  auto* wrapped = TensorWrap::unwrapIf(value);
  if (!wrapped) throw makeError(value.Env(), ErrorCode::Argument, name + " must be a NativeTensor");
  keepAlive.push_back(value);
  return wrapped->tensor(value.Env());
}

std::vector<TensorPtr> nativeTensorList(Napi::Value value, const std::string& name, std::vector<Napi::Value>& keepAlive) {
  if (!value.IsArray()) throw makeError(value.Env(), ErrorCode::Argument, name + " must be an array of NativeTensors");
  auto array = value.As<Napi::Array>();
  std::vector<TensorPtr> out;
  for (uint32_t i = 0; i < array.Length(); ++i) out.push_back(nativeTensorArg(array.Get(i), name + "[" + std::to_string(i) + "]", keepAlive));
  return out;
}

Napi::Value tensorResult(Napi::Env env, TensorPtr& t) { return TensorWrap::create(env, t); }

// imageFromPixels(pixels: Uint8Array, height, width, channels, name, cropHeight, cropWidth): Promise<NativeTensor>
Napi::Value imageFromPixels(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw makeError(env, ErrorCode::Argument, "pixels must be a Uint8Array");
  auto pixels = info[0].As<Napi::Uint8Array>();
  const int64_t height = integerArg(info, 1, "height"), width = integerArg(info, 2, "width");
  const int64_t channels = integerArg(info, 3, "channels");
  const std::string name = stringArg(info, 4, "name");
  const int64_t cropHeight = integerArg(info, 5, "cropHeight"), cropWidth = integerArg(info, 6, "cropWidth");
  if (height < 1 || width < 1 || channels < 1 || channels > 4 ||
      static_cast<double>(pixels.ElementLength()) != static_cast<double>(height) * static_cast<double>(width) * static_cast<double>(channels))
    throw makeError(env, ErrorCode::Shape, name + ": " + std::to_string(pixels.ElementLength()) + " bytes do not hold " +
                                               std::to_string(height) + " x " + std::to_string(width) + " x " + std::to_string(channels) + " pixels");
  const uint8_t* data = pixels.Data();
  return PromiseWorker<TensorPtr>::start(
      env,
      [=] { return kds::imageFromPixels(data, height, width, static_cast<int>(channels), name, cropHeight, cropWidth); },
      tensorResult, {info[0]});
}

// imageToPixels(image): Promise<{ data: Buffer (H x W x 3), height, width }>
Napi::Value imageToPixels(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<Napi::Value> keep;
  TensorArg image = readTensorArg(info[0], "image", keep);
  return PromiseWorker<Pixels>::start(
      env, [image] { return kds::imageToPixels(*image.resolve()); },
      [](Napi::Env env, Pixels& p) -> Napi::Value {
        auto out = Napi::Object::New(env);
        out.Set("data", Napi::Buffer<uint8_t>::Copy(env, p.data.data(), p.data.size()));
        out.Set("height", Napi::Number::New(env, static_cast<double>(p.height)));
        out.Set("width", Napi::Number::New(env, static_cast<double>(p.width)));
        return out;
      },
      keep);
}

// imageToFloat(image: NativeTensor): Promise<NativeTensor>
Napi::Value imageToFloat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<Napi::Value> keep;
  TensorPtr image = nativeTensorArg(info[0], "image", keep);
  return PromiseWorker<TensorPtr>::start(env, [image] { return kds::imageToFloat(*image); }, tensorResult, keep);
}

// resizeBicubic(image, outHeight, outWidth, scaleH, scaleW, round): Promise<NativeTensor>
Napi::Value resizeBicubic(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<Napi::Value> keep;
  TensorArg image = readTensorArg(info[0], "image", keep);
  const int64_t outHeight = integerArg(info, 1, "outHeight"), outWidth = integerArg(info, 2, "outWidth");
  const double scaleH = numberArg(info, 3, "scaleH"), scaleW = numberArg(info, 4, "scaleW");
  const bool round = info.Length() > 5 && info[5].ToBoolean().Value();
  return PromiseWorker<TensorPtr>::start(
      env, [=] { return kds::resizeBicubic(*image.resolve(), outHeight, outWidth, scaleH, scaleW, round); }, tensorResult, keep);
}

// assembleBatch(lr: NativeTensor[], hr: NativeTensor[], patches: Int32Array (image, top, left, transform)*,
//               patchSize, scale): Promise<{ lr, hr }>
Napi::Value assembleBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<Napi::Value> keep;
  auto lr = nativeTensorList(info[0], "lr", keep);
  auto hr = nativeTensorList(info[1], "hr", keep);
  if (info.Length() < 3 || !info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
      info[2].As<Napi::Int32Array>().ElementLength() % 4 != 0)
    throw makeError(env, ErrorCode::Argument, "patches must be an Int32Array of (image, top, left, transform) quadruples");
  auto flat = info[2].As<Napi::Int32Array>();
  std::vector<PatchSpec> patches(flat.ElementLength() / 4);
  for (size_t i = 0; i < patches.size(); ++i)
    patches[i] = PatchSpec{flat[4 * i], flat[4 * i + 1], flat[4 * i + 2], flat[4 * i + 3]};
  const int64_t patchSize = integerArg(info, 3, "patchSize"), scale = integerArg(info, 4, "scale");
  return PromiseWorker<PatchBatch>::start(
      env, [=] { return kds::assembleBatch(lr, hr, patches, patchSize, scale); },
      [](Napi::Env env, PatchBatch& b) -> Napi::Value {
        auto out = Napi::Object::New(env);
        out.Set("lr", TensorWrap::create(env, b.lr));
        out.Set("hr", TensorWrap::create(env, b.hr));
        return out;
      },
      keep);
}

// upscaleTiled(model: NativeModel, input, tile, overlap): Promise<NativeTensor>
Napi::Value upscaleTiled(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* modelWrap = info.Length() > 0 ? ModelWrap::unwrapIf(info[0]) : nullptr;
  if (!modelWrap) throw makeError(env, ErrorCode::Argument, "model must be a kds Model");
  ModelPtr model = modelWrap->model(env);
  std::vector<Napi::Value> keep{info[0]};
  TensorArg input = readTensorArg(info[1], "input", keep);
  const int64_t tile = integerArg(info, 2, "tile"), overlap = integerArg(info, 3, "overlap");
  return PromiseWorker<TensorPtr>::start(
      env, [=] { return kds::upscaleTiled(*model, *input.resolve(), tile, overlap); }, tensorResult, keep);
}

// imageQuality(sr, hr, { shave, psnr, ssim }): Promise<{ psnr, ssim }> (NaN for what was not asked)
Napi::Value imageQuality(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<Napi::Value> keep;
  TensorArg sr = readTensorArg(info[0], "sr", keep);
  TensorArg hr = readTensorArg(info[1], "hr", keep);
  auto o = objectArg(info, 2, "options");
  QualityOptions options;
  options.shave = static_cast<int64_t>(numberOption(o, "shave"));
  options.psnr = boolOption(o, "psnr");
  options.ssim = boolOption(o, "ssim");
  return PromiseWorker<Quality>::start(
      env, [=] { return kds::imageQuality(*sr.resolve(), *hr.resolve(), options); },
      [](Napi::Env env, Quality& q) -> Napi::Value {
        auto out = Napi::Object::New(env);
        out.Set("psnr", Napi::Number::New(env, q.psnr));
        out.Set("ssim", Napi::Number::New(env, q.ssim));
        return out;
      },
      keep);
}

}  // namespace

void registerDataFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("imageFromPixels", Napi::Function::New(env, imageFromPixels, "imageFromPixels"));
  exports.Set("imageToPixels", Napi::Function::New(env, imageToPixels, "imageToPixels"));
  exports.Set("imageToFloat", Napi::Function::New(env, imageToFloat, "imageToFloat"));
  exports.Set("resizeBicubic", Napi::Function::New(env, resizeBicubic, "resizeBicubic"));
  exports.Set("assembleBatch", Napi::Function::New(env, assembleBatch, "assembleBatch"));
  exports.Set("upscaleTiled", Napi::Function::New(env, upscaleTiled, "upscaleTiled"));
  exports.Set("imageQuality", Napi::Function::New(env, imageQuality, "imageQuality"));
}

}  // namespace kds::glue
