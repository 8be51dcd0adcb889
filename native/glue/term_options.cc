#include "glue/term_options.h"

#include "glue/errors.h"
#include "glue/js_args.h"

namespace kds::glue {

TermOptions readTermOptions(const Napi::Object& o, const FeatureTermInfo& info) {
  TermOptions options;
  for (const auto& option : info.options) {
    const char* key = option.name.c_str();
    if (option.kind == TermOptionKind::Number)
      options.numbers[option.name] = numberOption(o, key);
    else
      options.strings[option.name] = stringOption(o, key);
  }
  return options;
}

std::vector<FeatureTermSpec> readFeatureTerms(const Napi::Object& o, const char* key) {
  Napi::Value value = o.Get(key);
  if (!value.IsArray()) missingOption(o, key, "an array of feature terms");
  auto array = value.As<Napi::Array>();
  std::vector<FeatureTermSpec> out;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value item = array.Get(i);
    if (!item.IsObject()) missingOption(o, key, "an array of feature terms");
    auto term = item.As<Napi::Object>();
    FeatureTermSpec spec;
    spec.type = stringOption(term, "type");
    spec.weight = numberOption(term, "weight");
    spec.positions = intArrayOption(term, "positions");
    Napi::Value options = term.Get("options");
    if (!options.IsObject()) missingOption(term, "options", "an object");
    const FeatureTermInfo& info = guarded(o.Env(), [&]() -> const FeatureTermInfo& { return featureTermInfo(spec.type); });
    spec.options = readTermOptions(options.As<Napi::Object>(), info);
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
