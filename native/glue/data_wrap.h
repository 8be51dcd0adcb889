// The image, batch, upscale and metric functions of the addon (see lib/data/native-data.ts). Every
// one that touches pixels runs on a worker thread and returns a Promise.
#pragma once
#include <napi.h>

namespace kds::glue {

// Adds imageFromPixels, imageToPixels, imageToFloat, resizeBicubic, assembleBatch, upscaleTiled and
// imageQuality to `exports`.
void registerDataFunctions(Napi::Env env, Napi::Object exports);

}  // namespace kds::glue
