#include "glue/term_options.h"

#include "glue/errors.h"

namespace kds::glue {

TermOptions readTermOptions(const Napi::Object& o, const FeatureTermInfo& info, const std::string& where) {
  Napi::Env env = o.Env();
  TermOptions options;
  for (const auto& option : info.options) {
    Napi::Value v = o.Get(option.name);
    const bool number = option.kind == TermOptionKind::Number;
    if (number ? !v.IsNumber() : !v.IsString())
      throw makeError(env, ErrorCode::Argument, where + ": option '" + option.name + "' of " + info.name + " must be given as a " +
                                                    (number ? "number" : "string"));
    if (number)
      options.numbers[option.name] = v.As<Napi::Number>().DoubleValue();
    else
      options.strings[option.name] = v.As<Napi::String>().Utf8Value();
  }
  return options;
}

std::vector<FeatureTermSpec> readFeatureTerms(const Napi::Value& value, const std::string& where) {
  Napi::Env env = value.Env();
  if (!value.IsArray()) throw makeError(env, ErrorCode::Argument, where + ": 'features' must be an array");
  auto array = value.As<Napi::Array>();
  std::vector<FeatureTermSpec> out;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    const std::string name = where + ": features[" + std::to_string(i) + "]";
    Napi::Value item = array.Get(i);
    if (!item.IsObject()) throw makeError(env, ErrorCode::Argument, name + " must be an object");
    auto o = item.As<Napi::Object>();
    Napi::Value type = o.Get("type"), weight = o.Get("weight"), positions = o.Get("positions"), options = o.Get("options");
    if (!type.IsString() || !weight.IsNumber() || !positions.IsArray() || !options.IsObject())
      throw makeError(env, ErrorCode::Argument, name + " must be { type: string, weight: number, positions: number[], options: object }");
    FeatureTermSpec spec;
    spec.type = type.As<Napi::String>().Utf8Value();
    spec.weight = weight.As<Napi::Number>().DoubleValue();
    auto list = positions.As<Napi::Array>();
    for (uint32_t j = 0; j < list.Length(); ++j) {
      Napi::Value p = list.Get(j);
      if (!p.IsNumber()) throw makeError(env, ErrorCode::Argument, name + ".positions must be an array of integers");
      spec.positions.push_back(p.As<Napi::Number>().Int32Value());
    }
    const FeatureTermInfo& info = guarded(env, [&]() -> const FeatureTermInfo& { return featureTermInfo(spec.type); });
    spec.options = readTermOptions(options.As<Napi::Object>(), info, name);
    out.push_back(std::move(spec));
  }
  return out;
}

Napi::Value featureTerms(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& infos = featureTermInfos();
  auto out = Napi::Array::New(env, infos.size());
  for (size_t i = 0; i < infos.size(); ++i) {
    const auto& t = infos[i];
    auto row = Napi::Object::New(env);
    row.Set("name", t.name);
    auto options = Napi::Array::New(env, t.options.size());
    for (size_t j = 0; j < t.options.size(); ++j) {
      auto o = Napi::Object::New(env);
      o.Set("name", t.options[j].name);
      o.Set("kind", t.options[j].kind == TermOptionKind::Number ? "number" : "string");
      options.Set(static_cast<uint32_t>(j), o);
    }
    row.Set("options", options);
    row.Set("equalChannels", t.equalChannels);
    row.Set("equalSize", t.equalSize);
    row.Set("minPositions", t.minPositions);
    out.Set(static_cast<uint32_t>(i), row);
  }
  return out;
}

}  // namespace kds::glue
