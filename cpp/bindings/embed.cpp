// airtune._core.embed: model-free embedders (hashed character/word n-grams).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "common.h"
#include "embed/hashed_ngram.h"

namespace py = pybind11;

namespace airtune::bindings {

void bind_embed(py::module_& m) {
  auto e = m.def_submodule("embed", "Model-free text embedders.");
  e.def(
      "hashed_ngram",
      [](const py::sequence& texts, int dim, int char_min, int char_max, int word_max, float word_weight,
         uint64_t seed) {
        auto views = airtune::bindings::utf8_views(texts);
        airtune::embed::HashedNgramOptions o{dim, char_min, char_max, word_max, word_weight, seed};
        std::vector<float> out;
        {
          py::gil_scoped_release release;
          out = airtune::embed::hashed_ngram_embed(views, o);
        }
        const auto rows = static_cast<py::ssize_t>(views.size());
        return airtune::bindings::to_numpy(std::move(out)).reshape({rows, static_cast<py::ssize_t>(dim)});
      },
      py::arg("texts"), py::arg("dim") = 256, py::arg("char_min") = 3, py::arg("char_max") = 5, py::arg("word_max") = 1,
      py::arg("word_weight") = 1.0f, py::arg("seed") = 0,
      "Rows x dim float32 L2-normalised hashed n-gram embeddings (see cpp/embed/hashed_ngram.h).");
}

}  // namespace airtune::bindings
