package memstore_test

import (
	"testing"

	"github.com/seshat-go/seshat/memstore"
	"github.com/seshat-go/seshat/store"
	"github.com/seshat-go/seshat/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return memstore.New() })
}
