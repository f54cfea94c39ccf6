module GcnKd.Tests.DataCoreTests
