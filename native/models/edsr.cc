#include "models/edsr.h"

#include "api/error.h"
#include "io/state_dict.h"

namespace kds {
namespace {

void validate(const EdsrOptions& o) {
  if (o.scale != 2 && o.scale != 3 && o.scale != 4 && o.scale != 8)
    throw Error(ErrorCode::Argument, "edsr: scale must be 2, 3, 4 or 8, got " + std::to_string(o.scale));
  if (o.nResblocks < 1) throw Error(ErrorCode::Argument, "edsr: nResblocks must be >= 1, got " + std::to_string(o.nResblocks));
  if (o.nFeats < 1) throw Error(ErrorCode::Argument, "edsr: nFeats must be >= 1, got " + std::to_string(o.nFeats));
  if (!(o.resScale > 0)) throw Error(ErrorCode::Argument, "edsr: resScale must be > 0, got " + std::to_string(o.resScale));
  if (!(o.rgbRange > 0)) throw Error(ErrorCode::Argument, "edsr: rgbRange must be > 0, got " + std::to_string(o.rgbRange));
  if (o.nColors != 3) throw Error(ErrorCode::Argument, "edsr: nColors must be 3 (RGB), got " + std::to_string(o.nColors));
}

}  // namespace

EdsrImpl::EdsrImpl(const EdsrOptions& options) : options_(options) {
  validate(options);
  const int64_t f = options.nFeats;
  subMean_ = register_module("sub_mean", meanShift(options.rgbRange, -1));
  head_ = register_module("head", torch::nn::Sequential(defaultConv(options.nColors, f, 3)));
  body_ = register_module("body", torch::nn::ModuleList());
  for (int i = 0; i < options.nResblocks; ++i) body_->push_back(ResBlock(f, 3, options.resScale));
  body_->push_back(defaultConv(f, f, 3));
  tail_ = register_module("tail", torch::nn::Sequential(Upsampler(options.scale, f), defaultConv(f, options.nColors, 3)));
  addMean_ = register_module("add_mean", meanShift(options.rgbRange, +1));
}

SrOutput EdsrImpl::forward(const torch::Tensor& input) {
  const int n = options_.nResblocks;
  const int end1 = n / 3, end2 = 2 * n / 3;
  SrOutput out;
  auto x = head_->forward(subMean_->forward(input));
  out.features.push_back(x);
  auto res = x;
  const int taps[2] = {end1, end2};
  int next = 0;
  for (int i = 0; i < n; ++i) {
    while (next < 2 && taps[next] == i) out.features.push_back(res), ++next;  // a group ends before block i
    res = body_[i]->as<ResBlock>()->forward(res);
  }
  while (next < 2) out.features.push_back(res), ++next;
  res = body_[n]->as<torch::nn::Conv2d>()->forward(res) + x;
  out.features.push_back(res);
  out.output = addMean_->forward(tail_->forward(res));
  return out;
}

int64_t EdsrImpl::multiplyAdds(int64_t h, int64_t w) {
  const int64_t s = options_.scale;
  auto& upsampler = *tail_->ptr<UpsamplerImpl>(0);
  const int64_t lrWeights = convWeights(*subMean_) + convWeights(*head_) + convWeights(*body_);
  const int64_t hrWeights = convWeights(*tail_) - convWeights(upsampler) + convWeights(*addMean_);
  return lrWeights * h * w + upsamplerMacs(upsampler, h, w) + hrWeights * s * h * s * w;
}

std::vector<std::vector<int64_t>> EdsrImpl::featureShapes(int64_t h, int64_t w) const {
  return std::vector<std::vector<int64_t>>(4, {options_.nFeats, h, w});
}

std::string EdsrModel::canonicalKey(const std::string& key) const {
  const int n = net_->options().nResblocks;
  const int groupStart[3] = {0, n / 3, 2 * n / 3};
  const int groupSize[3] = {n / 3, 2 * n / 3 - n / 3, n - 2 * n / 3 + 1};  // body3 also holds the final conv
  for (int g = 0; g < 3; ++g) {
    auto k = indexedKey(key, "body" + std::to_string(g + 1) + ".");
    // An index beyond the group means a file of another depth: keep the key, so it is reported as unexpected.
    if (k && k->first < groupSize[g]) return "body." + std::to_string(groupStart[g] + k->first) + "." + k->second;
  }
  return key;
}

ModelPtr createEdsr(const EdsrOptions& options) { return std::make_shared<EdsrModel>(options); }

}  // namespace kds
