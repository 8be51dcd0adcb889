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
