// Free functions that compute single losses (api/functional.h) on a worker thread.
#pragma once
#include <napi.h>

namespace kds::glue {

// spatialAffinityLoss(student, teacher, options) -> Promise<{ loss: number, grad: NativeTensor }>.
// student/teacher: a NativeTensor or { data: Float32Array | Float64Array, shape }.
Napi::Value spatialAffinityLoss(const Napi::CallbackInfo& info);

// featureLoss(type, students[], teachers[], options) -> Promise<{ loss, grads }>: one feature term
// (api/feature_terms.h). options holds every option of the term and dtype ('float32' | 'float64'); grads
// are NativeTensors (float32) or { data: Float64Array, shape } (float64).
Napi::Value featureLoss(const Napi::CallbackInfo& info);

}  // namespace kds::glue
