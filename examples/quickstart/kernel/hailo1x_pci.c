// Stand-in for the HailoRT 5.3.0 PCIe driver (hailo1x_pci) for the Hailo-10H. The
// quickstart does not compile C: kernel/Dockerfile turns this file into a placeholder
// .ko and signs it with the kernel build's key, which is all sovos verifies.
#define HAILO_DRIVER_VERSION "5.3.0"
