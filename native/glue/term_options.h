// Reading a feature term's options (api/feature_terms.h) from a JS object: every option the term's row
// names must be there with the right type (lib/ fills in the defaults); other keys are ignored.
#pragma once
#include <napi.h>

#include <string>
#include <vector>

#include "api/feature_terms.h"
#include "api/session.h"

namespace kds::glue {

TermOptions readTermOptions(const Napi::Object& o, const FeatureTermInfo& info, const std::string& where);

// setLoss's `features`: [{ type, weight, positions: number[], options: { every option of the type } }].
std::vector<FeatureTermSpec> readFeatureTerms(const Napi::Value& value, const std::string& where);

// featureTerms() -> [{ name, options: [{ name, kind: 'number' | 'string' }], equalChannels, equalSize,
// minPositions }]: the core's registry, so lib/ can check that its table names the same terms and options.
Napi::Value featureTerms(const Napi::CallbackInfo& info);

}  // namespace kds::glue
