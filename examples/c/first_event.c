/* Generates one event through pxdgen's C API and prints its digits per layer.
 * usage: first_event [MODEL.pxdg] [SEED] [EVENT]   (no model: the built-in one) */
#include <pxdgen/pxdgen.h>

#include <stdio.h>
#include <stdlib.h>

static int report(const char* what) {
  fprintf(stderr, "first_event: %s: %s\n", what, pxdgen_last_error());
  return 1;
}

int main(int argc, char** argv) {
  pxdgen_model* model = NULL;
  pxdgen_status status = argc > 1 ? pxdgen_model_load(argv[1], &model) : pxdgen_model_builtin(&model);
  if (status != PXDGEN_OK) return report("loading the model");
  const unsigned long long seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 0;
  const unsigned long long event = argc > 3 ? strtoull(argv[3], NULL, 10) : 0;

  pxdgen_generator* generator = NULL;
  if (pxdgen_generator_create(model, NULL, &generator) != PXDGEN_OK) {
    pxdgen_model_free(model);
    return report("creating a generator");
  }
  pxdgen_model_free(model); /* the generator keeps what it needs */

  const pxdgen_digit* digits = NULL;
  size_t count = 0;
  if (pxdgen_generator_event(generator, seed, event, &digits, &count) != PXDGEN_OK) {
    pxdgen_generator_free(generator);
    return report("generating");
  }
  size_t per_layer[3] = {0, 0, 0};
  for (size_t i = 0; i < count; ++i) {
    int layer, ladder, sensor;
    if (pxdgen_sensor_id(digits[i].sensor, &layer, &ladder, &sensor) == PXDGEN_OK) per_layer[layer]++;
  }
  printf("pxdgen %s: seed %llu event %llu: %zu digits (layer 1: %zu, layer 2: %zu)\n", pxdgen_version(), seed,
         event, count, per_layer[1], per_layer[2]);
  pxdgen_generator_free(generator);
  return 0;
}
