"""Conversion, quantization modes and numerical validation.

(Named ``conversion`` rather than ``convert`` so that the package never shadows
the public function ``mobilepack.convert``.)"""
