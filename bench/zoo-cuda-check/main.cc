// CUDA smoke check of the model zoo without Node: loads Python-made state dicts (zip and legacy) into the
// C++ EDSR/RCAN/SAN, runs them on the GPU against float64 PyTorch references, trains one backward pass, and
// counts a TorchScript model's multiply-adds on the GPU.
#include <torch/torch.h>

#include <iostream>
#include <map>

#include "api/model.h"
#include "io/state_dict.h"
#include "models/torch_model.h"

using namespace kds;

static double rel(const torch::Tensor& a, const torch::Tensor& b) {
  auto bd = b.to(torch::kCPU, torch::kDouble);
  return ((a.to(torch::kCPU, torch::kDouble) - bd).abs().max() / bd.abs().max()).item<double>();
}

int main(int argc, char** argv) {
  const std::string dir = argv[1];
  const bool cuda = torch::cuda::is_available();
  // LibTorch, like PyTorch, lets cuDNN convolutions use TF32 on Ampere and newer (~1e-4 relative error);
  // "fp32" turns that off to compare the implementation itself.
  const bool strictFloat32 = argc > 2 && std::string(argv[2]) == "fp32";
  if (strictFloat32) {
    at::globalContext().setAllowTF32CuDNN(false);
    at::globalContext().setAllowTF32CuBLAS(false);
  }
  std::cout << "TF32 convolutions " << (at::globalContext().allowTF32CuDNN() ? "on" : "off") << "\n";
  torch::Device device = cuda ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  std::cout << "device " << device << "\n";
  std::map<std::string, torch::Tensor> refs;
  for (auto& [k, v] : readStateDict(dir + "/refs.pt")) refs[k] = v;
  auto input = refs["input"].to(torch::kFloat);
  int failures = 0;
  auto check = [&](const std::string& what, double err, double tol) {
    std::cout << what << " rel err " << err << (err < tol ? " ok" : " FAIL") << "\n";
    if (!(err < tol)) ++failures;
  };

  // Complete specs, as lib/models/<kind>.ts would make them (the defaults written out).
  const ModelSpec e{"edsr", {{"scale", 4}, {"nResblocks", 4}, {"nFeats", 16}, {"resScale", 1}, {"rgbRange", 255}}, {}};
  const ModelSpec r{"rcan",
                    {{"scale", 4}, {"nResgroups", 3}, {"nResblocks", 2}, {"nFeats", 32}, {"reduction", 16}, {"resScale", 1}, {"rgbRange", 255}},
                    {{"featureGroups", {1, 2}}}};
  const ModelSpec s{"san",
                    {{"scale", 4}, {"nResgroups", 3}, {"nResblocks", 2}, {"nFeats", 32}, {"reduction", 16}, {"nonLocalChannels", 4}, {"rgbRange", 255}},
                    {{"featureGroups", {1, 2}}}};
  std::map<std::string, std::function<ModelPtr()>> make{
      {"edsr", [&] { return createModel(e); }}, {"rcan", [&] { return createModel(r); }}, {"san", [&] { return createModel(s); }}};
  for (auto& [arch, create] : make) {
    for (const std::string file : {arch + ".pt", arch + "_legacy.pt"}) {
      ModelPtr model = create();
      model->loadStateDict(dir + "/" + file, LoadOptions{});
      auto& t = asTorchModel(*model);
      t.moveTo(device);
      SrOutput out;
      {
        torch::InferenceMode guard;
        out = t.run(input.to(device));
      }
      check(arch + " " + file + " output on " + device.str(), rel(out.output, refs[arch + "_out"]), 1e-5);
      for (size_t i = 0; i < out.features.size(); ++i)
        check(arch + " feature " + std::to_string(i), rel(out.features[i], refs[arch + "_f" + std::to_string(i)]), 1e-5);
    }
    // One backward pass on the device: every used parameter gets a finite gradient.
    ModelPtr model = create();
    auto& t = asTorchModel(*model);
    t.moveTo(device);
    t.setTraining(true);
    auto out = t.run(input.to(device));
    auto loss = out.output.mean();
    for (auto& f : out.features) loss = loss + f.pow(2).mean();
    loss.backward();
    int withGrad = 0, finite = 0;
    for (auto& p : t.trainableParameters())
      if (p.grad().defined()) ++withGrad, finite += torch::isfinite(p.grad()).all().item<bool>();
    std::cout << arch << " backward: " << withGrad << " parameters with gradients, " << finite << " finite" << (withGrad == finite && withGrad > 0 ? " ok" : " FAIL") << "\n";
    if (!(withGrad == finite && withGrad > 0)) ++failures;
  }
  auto ts = loadTorchScript(dir + "/edsr_ts.pt");
  asTorchModel(*ts).moveTo(device);
  auto traced = ts->summary(23, 17);
  auto analytic = createModel(e)->summary(23, 17);
  std::cout << "torchscript summary on " << device << ": traced " << traced.multiplyAdds << " analytic " << analytic.multiplyAdds
            << (traced.multiplyAdds == analytic.multiplyAdds ? " ok" : " FAIL") << "\n";
  if (traced.multiplyAdds != analytic.multiplyAdds) ++failures;
  std::cout << (failures ? "FAILURES " + std::to_string(failures) : std::string("ALL OK")) << "\n";
  return failures ? 1 : 0;
}
