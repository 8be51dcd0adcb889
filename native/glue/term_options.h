// Reading feature terms (api/feature_terms.h) from JS objects: every option a term's row names must be
// there with the right type (lib/ fills in the defaults; a missing one is a kds bug, E_ARG).
#pragma once
#include <napi.h>

#include <string>
#include <vector>

#include "api/feature_terms.h"
#include "api/session.h"

namespace kds::glue {

TermOptions readTermOptions(const Napi::Object& o, const FeatureTermInfo& info);

// setLoss's `features`: [{ type, weight, positions: number[], options: { every option of the type } }].
std::vector<FeatureTermSpec> readFeatureTerms(const Napi::Object& o, const char* key);

// featureTerms() -> [{ name, options: [{ name, kind: 'number' | 'string' }], equalChannels, equalSize,
// minPositions }]: the core's registry, so lib/ can check that its table names the same terms and options.
Napi::Value featureTerms(const Napi::CallbackInfo& info);

}  // namespace kds::glue
