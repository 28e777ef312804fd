/*===- fixture_model.c - a stand-in for a model.so of lora-compile --------===*\
|*                                                                            *|
|* RuntimeTest copies this library into artifact folders as model.so. Each    *|
|* function takes one memref descriptor per argument, then one per output,    *|
|* as compiled code does, and has the signature string the runtime checks.    *|
|*                                                                            *|
|*   main:  y = x*W + s*(x*A)*B  with arguments W [4,3], x [2,4], A [4,2],    *|
|*          B [2,3] (a weight first, so the input is not argument 0) and      *|
|*          s = 2 (alpha 4, rank 2), in double, rounded to float at the end.  *|
|*   base:  y = x*W  with W [4,3], x [2,4] (a merged model or no LoRA).       *|
|*   echo:  copies its f16 [4,2] and bf16 [2,3] arguments to its outputs, so  *|
|*          a test sees the bytes the runtime stored in its LoRA parameters.  *|
|*   nosig: like base, without lora_signature_nosig.                          *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#include <stdint.h>
#include <string.h>

typedef struct {
  void *allocated;
  void *aligned;
  int64_t offset;
  int64_t sizes[2];
  int64_t strides[2];
} MemRef2;

static double at(const MemRef2 *m, int64_t i, int64_t j) {
  const float *data = (const float *)m->aligned;
  return data[m->offset + i * m->strides[0] + j * m->strides[1]];
}

static void store(MemRef2 *m, int64_t i, int64_t j, double value) {
  float *data = (float *)m->aligned;
  data[m->offset + i * m->strides[0] + j * m->strides[1]] = (float)value;
}

static void linear(const MemRef2 *w, const MemRef2 *x, const MemRef2 *a,
                   const MemRef2 *b, double scale, MemRef2 *y) {
  for (int64_t i = 0; i < 2; ++i) {
    double t[2] = {0, 0};
    for (int64_t j = 0; a && j < 2; ++j)
      for (int64_t k = 0; k < 4; ++k)
        t[j] += at(x, i, k) * at(a, k, j);
    for (int64_t n = 0; n < 3; ++n) {
      double sum = 0, update = 0;
      for (int64_t k = 0; k < 4; ++k)
        sum += at(x, i, k) * at(w, k, n);
      for (int64_t j = 0; b && j < 2; ++j)
        update += t[j] * at(b, j, n);
      store(y, i, n, sum + scale * update);
    }
  }
}

void lora_entry_main(void **args) {
  linear(args[0], args[1], args[2], args[3], 2.0, args[4]);
}
const char lora_signature_main[] =
    "f32[4x3],f32[2x4],f32[4x2],f32[2x3]->f32[2x3]";

void lora_entry_base(void **args) {
  linear(args[0], args[1], NULL, NULL, 0.0, args[2]);
}
const char lora_signature_base[] = "f32[4x3],f32[2x4]->f32[2x3]";

void lora_entry_nosig(void **args) { lora_entry_base(args); }

/* Copies a dense row-major 2-D memref of 2-byte elements. */
static void copy2(const MemRef2 *from, MemRef2 *to) {
  const char *source = (const char *)from->aligned + 2 * from->offset;
  char *target = (char *)to->aligned + 2 * to->offset;
  memcpy(target, source, (size_t)(2 * from->sizes[0] * from->sizes[1]));
}

void lora_entry_echo(void **args) {
  copy2(args[0], args[2]);
  copy2(args[1], args[3]);
}
const char lora_signature_echo[] = "f16[4x2],bf16[2x3]->f16[4x2],bf16[2x3]";
