// Free functions that compute single losses (api/functional.h) on a worker thread.
#pragma once
#include <napi.h>

namespace kds::glue {

// spatialAffinityLoss(student, teacher, options) -> Promise<{ loss: number, grad: NativeTensor }>.
// student/teacher: a NativeTensor or { data: Float32Array | Float64Array, shape }.
Napi::Value spatialAffinityLoss(const Napi::CallbackInfo& info);

}  // namespace kds::glue
