// The exporter (BN folding, int8 quantization, memory planning, C generation) lives here.
