package main

import (
	"testing"

	"github.com/urmanac/sovos/internal/testenv"
)

// TestMain lets tests run the sovos binary (testenv.SovosCLI), built once.
func TestMain(m *testing.M) { testenv.Main(m) }
