#include "models/rcan.h"

#include "api/error.h"
#include "models/spec_reader.h"

namespace kds {

ChannelAttentionImpl::ChannelAttentionImpl(int64_t nFeats, int64_t reduction) {
  const int64_t inner = nFeats / reduction;
  convDu_ = register_module(
      "conv_du", torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(nFeats, inner, 1).bias(true)), torch::nn::ReLU(),
                                       torch::nn::Conv2d(torch::nn::Conv2dOptions(inner, nFeats, 1).bias(true)), torch::nn::Sigmoid()));
}

torch::Tensor ChannelAttentionImpl::forward(const torch::Tensor& x) {
  return x * convDu_->forward(torch::adaptive_avg_pool2d(x, {1, 1}));
}

RcabImpl::RcabImpl(int64_t nFeats, int64_t reduction, double resScale) : resScale_(resScale) {
  body_ = register_module("body", torch::nn::Sequential(defaultConv(nFeats, nFeats, 3), torch::nn::ReLU(), defaultConv(nFeats, nFeats, 3),
                                                       ChannelAttention(nFeats, reduction)));
}

torch::Tensor RcabImpl::forward(const torch::Tensor& x) {
  auto res = body_->forward(x);
  if (resScale_ != 1.0) res = res * resScale_;
  return res + x;
}

int64_t RcabImpl::multiplyAdds(int64_t h, int64_t w) const {
  const int64_t attention = convWeights(*body_->ptr(3));  // on the pooled 1 x 1 map
  return (convWeights(*body_) - attention) * h * w + attention;
}

ResidualGroupImpl::ResidualGroupImpl(int64_t nFeats, int64_t reduction, double resScale, int nResblocks) {
  body_ = register_module("body", torch::nn::Sequential());
  for (int b = 0; b < nResblocks; ++b) body_->push_back(Rcab(nFeats, reduction, resScale));
  body_->push_back(defaultConv(nFeats, nFeats, 3));
}

torch::Tensor ResidualGroupImpl::forward(const torch::Tensor& x) { return body_->forward(x) + x; }

int64_t ResidualGroupImpl::multiplyAdds(int64_t h, int64_t w) const {
  int64_t macs = 0;
  const size_t n = body_->size() - 1;
  for (size_t b = 0; b < n; ++b) macs += body_->ptr<RcabImpl>(b)->multiplyAdds(h, w);
  return macs + convWeights(*body_->ptr(n)) * h * w;
}

RcanImpl::RcanImpl(const RcanOptions& options) : options_(options) {
  const int64_t f = options_.nFeats;
  subMean_ = register_module("sub_mean", meanShift(options_.rgbRange, -1));
  head_ = register_module("head", torch::nn::Sequential(defaultConv(3, f, 3)));
  body_ = register_module("body", torch::nn::ModuleList());
  for (int g = 0; g < options_.nResgroups; ++g)
    body_->push_back(ResidualGroup(f, options_.reduction, options_.resScale, options_.nResblocks));
  body_->push_back(defaultConv(f, f, 3));
  tail_ = register_module("tail", torch::nn::Sequential(Upsampler(options_.scale, f), defaultConv(f, 3, 3)));
  addMean_ = register_module("add_mean", meanShift(options_.rgbRange, +1));
}

SrOutput RcanImpl::forward(const torch::Tensor& input) {
  const int n = options_.nResgroups;
  SrOutput out;
  auto x = head_->forward(subMean_->forward(input));
  out.features.push_back(x);
  auto res = x;
  size_t nextTap = 0;
  for (int g = 0; g < n; ++g) {
    res = body_->ptr<ResidualGroupImpl>(g)->forward(res);
    while (nextTap < options_.featureGroups.size() && options_.featureGroups[nextTap] == g + 1) out.features.push_back(res), ++nextTap;
  }
  res = body_->ptr<torch::nn::Conv2dImpl>(n)->forward(res) + x;
  out.features.push_back(res);
  out.output = addMean_->forward(tail_->forward(res));
  return out;
}

int64_t RcanImpl::multiplyAdds(int64_t h, int64_t w) {
  const int64_t s = options_.scale;
  const int n = options_.nResgroups;
  auto& upsampler = *tail_->ptr<UpsamplerImpl>(0);
  int64_t macs = (convWeights(*subMean_) + convWeights(*head_) + convWeights(*body_->ptr(n))) * h * w;
  for (int g = 0; g < n; ++g) macs += body_->ptr<ResidualGroupImpl>(g)->multiplyAdds(h, w);
  const int64_t hrWeights = convWeights(*tail_) - convWeights(upsampler) + convWeights(*addMean_);
  return macs + upsamplerMacs(upsampler, h, w) + hrWeights * s * h * s * w;
}

std::vector<std::vector<int64_t>> RcanImpl::featureShapes(int64_t h, int64_t w) const {
  return std::vector<std::vector<int64_t>>(options_.featureGroups.size() + 2, {options_.nFeats, h, w});
}

std::string RcanModel::canonicalKey(const std::string& key) const {
  const int n = net_->options().nResgroups;
  if (key.rfind("body_tail.", 0) == 0) return "body." + std::to_string(n) + key.substr(9);
  // A group index beyond this model's keeps its key, so that it is reported as unexpected.
  if (auto k = indexedKey(key, "body_group"); k && k->first < n) return "body." + std::to_string(k->first) + "." + k->second;
  return key;
}

ModelPtr createRcan(const ModelSpec& spec) {
  SpecReader read(spec);
  RcanOptions options;
  options.scale = read.scale();
  options.nResgroups = read.integer("nResgroups");
  options.nResblocks = read.integer("nResblocks");
  options.nFeats = read.integer("nFeats");
  options.reduction = read.integer("reduction");
  if (options.reduction > options.nFeats) throw Error(ErrorCode::Argument, "rcan: reduction must not exceed nFeats");
  options.resScale = read.positive("resScale");
  options.rgbRange = read.positive("rgbRange");
  options.featureGroups = read.groups("featureGroups", options.nResgroups);
  read.finish();
  return std::make_shared<RcanModel>(options);
}

}  // namespace kds
