#ifndef PXDGEN_PXDGEN_H
#define PXDGEN_PXDGEN_H
/* @file pxdgen.h
 * pxdgen's C API, for frameworks that are not C++ and for foreign-function interfaces
 * (Python ctypes, Julia, Fortran). It wraps the C++ API of pxdgen.hpp one to one:
 *
 *     pxdgen_model* model = NULL;
 *     if (pxdgen_model_load("ieagan.pxdg", &model) != PXDGEN_OK) puts(pxdgen_last_error());
 *     pxdgen_generator* generator = NULL;
 *     pxdgen_generator_create(model, NULL, &generator);      // one per thread
 *     const pxdgen_digit* digits; size_t count;
 *     pxdgen_generator_event(generator, 42, 0, &digits, &count);
 *     pxdgen_generator_free(generator);
 *     pxdgen_model_free(model);
 *
 * Every function that can fail returns a pxdgen_status; on failure pxdgen_last_error()
 * gives the message, kept per thread until the thread's next failing call. No function
 * throws or aborts on bad input. */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pxdgen_status {
  PXDGEN_OK = 0,
  PXDGEN_ERROR_ARGUMENT = 1, /* a null handle or pointer, an option out of range */
  PXDGEN_ERROR_INPUT = 2,    /* an unreadable, corrupt or inconsistent file or model */
  PXDGEN_ERROR_NUMERIC = 3,  /* the network produced NaN or Inf */
  PXDGEN_ERROR_MEMORY = 4,   /* an allocation failed */
  PXDGEN_ERROR_INTERNAL = 5  /* anything else; the message says what */
} pxdgen_status;

/* A loaded model: immutable, shareable between threads and generators. */
typedef struct pxdgen_model pxdgen_model;
/* Per-thread state for generating events from a model. */
typedef struct pxdgen_generator pxdgen_generator;

/* One fired pixel; the same layout as pxdgen::Digit. */
typedef struct pxdgen_digit {
  uint16_t sensor; /* sensor index 0..39; pxdgen_sensor_id() gives layer.ladder.sensor */
  uint16_t ucell;  /* 0..249 */
  uint16_t vcell;  /* 0..767 */
  uint16_t charge; /* ADU, 1..255 */
} pxdgen_digit;

typedef struct pxdgen_model_info {
  const char* family;  /* valid while the model lives */
  const char* variant; /* valid while the model lives */
  const char* sha256;  /* of the model file; valid while the model lives */
  int dim_z;           /* latent dimensions per sensor */
  int dim_rdof;        /* extra random dimensions per sensor, or 0 */
  int64_t parameters;
  double gmac_per_event;
} pxdgen_model_info;

typedef enum pxdgen_backend { PXDGEN_BACKEND_FAST = 0, PXDGEN_BACKEND_REFERENCE = 1 } pxdgen_backend;

typedef struct pxdgen_generator_options {
  pxdgen_backend backend; /* default PXDGEN_BACKEND_FAST */
  int threads;            /* OpenMP threads across sensors; default 1 */
  int override_transform; /* 0: the model's output transform; 1: the three fields below */
  int has_cut;            /* pixels with tanh output <= cut are empty */
  float cut;              /* in [-1, 1] */
  int min_charge;         /* 1..255 ADU */
} pxdgen_generator_options;

/* The library version, e.g. "0.1.0". */
const char* pxdgen_version(void);
/* The message of this thread's last failed call ("" if none). */
const char* pxdgen_last_error(void);

pxdgen_status pxdgen_model_load(const char* path, pxdgen_model** model);
/* The model built into the library (not a physics model; see the README). */
pxdgen_status pxdgen_model_builtin(pxdgen_model** model);
pxdgen_status pxdgen_model_get_info(const pxdgen_model* model, pxdgen_model_info* info);
/* Null is accepted. Generators keep their model alive: free order does not matter. */
void pxdgen_model_free(pxdgen_model* model);

/* Fills the defaults listed in pxdgen_generator_options. */
void pxdgen_generator_options_init(pxdgen_generator_options* options);
/* options may be null for the defaults. */
pxdgen_status pxdgen_generator_create(const pxdgen_model* model, const pxdgen_generator_options* options,
                                      pxdgen_generator** generator);
void pxdgen_generator_free(pxdgen_generator* generator);

/* Digits of event `event` of the run with seed `seed`, sorted by (sensor, ucell, vcell).
 * *digits points into the generator and stays valid until its next call or its free. */
pxdgen_status pxdgen_generator_event(pxdgen_generator* generator, uint64_t seed, uint64_t event,
                                     const pxdgen_digit** digits, size_t* count);

/* Digits of events first .. first + count - 1 (count >= 1), each what
 * pxdgen_generator_event gives it, generated together so that the threads share out all
 * their sensors (see pxdgen::Generator::events). *digits points to them all, event after
 * event: event e's are (*digits)[offsets[e]] .. (*digits)[offsets[e + 1] - 1], offsets being
 * the caller's array of count + 1 entries. Valid until the generator's next call or its free. */
pxdgen_status pxdgen_generator_events(pxdgen_generator* generator, uint64_t seed, uint64_t first, int count,
                                      const pxdgen_digit** digits, size_t* offsets);

/* The fewest events whose sensors the generator's threads share out in whole rounds, at
 * most 4: the count to give pxdgen_generator_events. */
int pxdgen_generator_events_per_batch(const pxdgen_generator* generator);

/* The latents pxdgen_generator_event uses: z holds 40 x dim_z floats, rdof 40 x dim_rdof
 * (may be null when dim_rdof is 0). */
pxdgen_status pxdgen_generator_draw_latents(const pxdgen_generator* generator, uint64_t seed, uint64_t event,
                                            float* z, float* rdof);

/* Runs the network on caller-given latents (z: 40 x dim_z; rdof: 40 x dim_rdof or null).
 * digits/count may be null; images, if not null, receives the uncropped tanh output,
 * 40 x 256 x 768 floats. */
pxdgen_status pxdgen_generator_generate(pxdgen_generator* generator, const float* z, const float* rdof,
                                        const pxdgen_digit** digits, size_t* count, float* images);

/* Sensor index 0..39 to layer (1..2), ladder and sensor (1..2). */
pxdgen_status pxdgen_sensor_id(int index, int* layer, int* ladder, int* sensor);

/* The time one kind of layer call took, summed over its calls and over threads; the same
 * fields as pxdgen::LayerTime. */
typedef struct pxdgen_layer_time {
  const char* layer; /* operation and shape, e.g. "conv3x3 32->32 64x192 up2" */
  int64_t calls;
  double seconds;
  double flop; /* dense multiply-adds x 2 */
} pxdgen_layer_time;

/* Nonzero: times every convolution and linear layer that any generator of the process runs
 * from now on, the profile starting empty; zero: stops timing. Off by default; for finding
 * where an event's time goes, not for production runs (see pxdgen::set_layer_profiling). */
void pxdgen_set_layer_profiling(int on);

/* The layer calls timed since profiling was last turned on, slowest first. *layers points to
 * *count entries, valid on this thread until its next call of this function. */
pxdgen_status pxdgen_layer_profile(const pxdgen_layer_time** layers, size_t* count);

#ifdef __cplusplus
}
#endif

#endif /* PXDGEN_PXDGEN_H */
